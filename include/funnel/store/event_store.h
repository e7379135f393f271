// The durable event store: every event, item and user Funnel has accepted, in RocksDB under
// the data directory. Later stages replay it (features, training, evaluation) and read each
// user's history from it.
//
// What it guarantees:
//  - Append() returns only after the batch is durable (synced write-ahead log), so an event
//    reported as accepted survives kill -9 and power loss.
//  - Ingestion is idempotent: an event whose DedupeKey() is already stored is skipped, within
//    a batch and across batches, so re-importing a file stores nothing twice.
//  - Replay(from, to) streams events with from <= ts < to in time order (ties in arrival
//    order) without loading them into memory.
//
//   FUNNEL_ASSIGN_OR_RETURN(auto store, EventStore::Open({.path = "funnel-data/events"}));
//   FUNNEL_ASSIGN_OR_RETURN(AppendResult r, store->Append(events));
//   store->Replay(Timestamp::Min(), Timestamp::Max(), [&](const StoredEvent& e) { ...; return true; });
//
// Thread-safety: all methods are safe to call concurrently; writes are serialized internally.
// The on-disk layout is documented in docs/formats/event-store.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/events/event.h"
#include "funnel/events/record_sink.h"

namespace funnel::store {

struct EventStoreOptions {
  std::string path;               // directory of the RocksDB database
  bool create_if_missing = true;
  bool read_only = false;         // opens without taking the writer lock
  bool sync = true;               // fsync the WAL on every Append (durability before ack)
  int block_cache_mb = 256;
};

// One stored event, decoded. The string_views point into the store's buffers and are valid
// only during the callback that receives them.
struct StoredEvent {
  Timestamp ts;
  uint64_t seq = 0;  // arrival order, unique per event
  UserIdx user{};
  ItemIdx item{};
  TypeIdx type{};
  std::optional<double> value;
  std::string_view id;
  std::string_view request_id;
  std::string_view context;
};

// An entry of a user's history (the event's seq locates the full record).
struct HistoryEntry {
  Timestamp ts;
  uint64_t seq = 0;
  ItemIdx item{};
  TypeIdx type{};
  std::optional<double> value;
};

using events::AppendResult;

struct StoreStats {
  uint64_t events = 0;
  std::vector<std::pair<std::string, uint64_t>> events_by_type;  // sorted by count, descending
  uint64_t users = 0;               // distinct user ids (from events or user records)
  uint64_t items = 0;               // distinct item ids (from events or item records)
  uint64_t items_with_metadata = 0;
  uint64_t users_with_attributes = 0;
  std::optional<Timestamp> first_ts;
  std::optional<Timestamp> last_ts;
  uint64_t disk_bytes = 0;
};

// Returns false to stop a replay early.
using EventCallback = std::function<bool(const StoredEvent&)>;
using HistoryCallback = std::function<bool(const HistoryEntry&)>;

class EventStore : public events::RecordSink {
 public:
  static StatusOr<std::unique_ptr<EventStore>> Open(const EventStoreOptions& options);
  virtual ~EventStore() = default;

  // RecordSink: Append() stores the new events of a batch in one atomic, durable write;
  // UpsertItems/UpsertUsers merge each record into the stored one as a patch (absent fields
  // keep their value, null clears, attributes merge key by key: funnel/events/event.h), in one
  // atomic, durable write; a record repeated in a batch applies in order.

  // UpsertItems/UpsertUsers that also hand back the records as now stored, one per distinct
  // id in first-seen order, for the stages that mirror metadata (the online features).
  virtual Status MergeItems(std::span<const events::Item> items, std::vector<events::Item>* merged) = 0;
  virtual Status MergeUsers(std::span<const events::User> users, std::vector<events::User>* merged) = 0;

  // Streams events with from <= ts < to in time order.
  virtual Status Replay(Timestamp from, Timestamp to, const EventCallback& fn) const = 0;
  // Streams one user's events with from <= ts < to in time order.
  virtual Status UserHistory(UserIdx user, Timestamp from, Timestamp to,
                             const HistoryCallback& fn) const = 0;

  // Lookups between string ids and dense indexes; nullopt when unknown (an expected case).
  virtual std::optional<UserIdx> FindUser(std::string_view id) const = 0;
  virtual std::optional<ItemIdx> FindItem(std::string_view id) const = 0;
  virtual std::optional<TypeIdx> FindType(std::string_view type) const = 0;
  virtual std::string UserName(UserIdx user) const = 0;
  virtual std::string ItemName(ItemIdx item) const = 0;
  virtual std::string TypeName(TypeIdx type) const = 0;
  virtual uint32_t NumUsers() const = 0;
  virtual uint32_t NumItems() const = 0;
  virtual uint32_t NumTypes() const = 0;

  // Item metadata / user attributes; nullopt when none were imported.
  virtual StatusOr<std::optional<events::Item>> GetItem(ItemIdx item) const = 0;
  virtual StatusOr<std::optional<events::User>> GetUser(UserIdx user) const = 0;
  // Visits every item that has metadata, in index order.
  virtual Status ForEachItem(const std::function<bool(ItemIdx, const events::Item&)>& fn) const = 0;

  // Visits every user that has attributes, in index order.
  virtual Status ForEachUser(const std::function<bool(UserIdx, const events::User&)>& fn) const = 0;

  // True when an event with this dedupe key is stored.
  virtual StatusOr<bool> Contains(const events::Event& event) const = 0;

  virtual StoreStats Stats() const = 0;
  // The sequence number the next stored event will get: every stored event has seq < NextSeq().
  virtual uint64_t NextSeq() const = 0;
  // The newest stored event's time; nullopt when the store holds no event. Cheap (a counter).
  virtual std::optional<Timestamp> NewestEventTime() const = 0;
};

// The data's present: just past the newest stored event, so a read as of it uses every stored
// event (nothing stamped at or after a read's time is used). The default time of every command
// and request that takes one (`recommend --at`, `features --at`, `train --until`, a request's
// `ts`), never the wall clock: a store of last year's events is served as of last year, so
// trending, fresh and every decay see the catalog as it was when the data ends. nullopt for an
// empty store.
std::optional<Timestamp> DataPresent(const EventStore& store);

}  // namespace funnel::store
