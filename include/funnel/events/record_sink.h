// Where importers put what they parse. The event store implements it; tests may use a vector.
// Keeping importers behind this interface lets events/ sit below store/ in the stage order.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/events/event.h"

namespace funnel::events {

struct AppendResult {
  uint64_t accepted = 0;    // newly stored
  uint64_t duplicates = 0;  // already stored (or repeated within the batch), skipped
  // Where the newly stored events are, for the stages that consume them next (the online
  // features): batch positions in arrival order; the k-th got sequence number first_seq + k.
  // Sinks without sequence numbers may leave both empty.
  uint64_t first_seq = 0;
  std::vector<uint32_t> stored;
  // The dense indexes the store gave the k-th stored event's user, item and type (parallel to
  // `stored`), so consumers need not look the ids up again. Empty when the sink has none.
  std::vector<UserIdx> users;
  std::vector<ItemIdx> items;
  std::vector<TypeIdx> types;
};

// Implementations say their own thread-safety.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // Stores the new events of `events`; durable when it returns OK.
  virtual StatusOr<AppendResult> Append(std::span<const Event> events) = 0;
  // Inserts or replaces item metadata / user attributes; durable when it returns OK.
  virtual Status UpsertItems(std::span<const Item> items) = 0;
  virtual Status UpsertUsers(std::span<const User> users) = 0;
  // Waits until everything appended so far has reached every stage the sink feeds (a sink
  // may hand later stages their work in the background). Importers call it at the end.
  virtual Status Flush() { return absl::OkStatus(); }
};

}  // namespace funnel::events
