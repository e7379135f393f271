// Parses and validates one JSON Lines record (event, item or user) with simdjson.
// Errors say which field is wrong and why, e.g. `field "ts": expected a number, got string`;
// the importer prefixes them with the source and line number.
// It also counts, over the records it accepted, the fields their format does not know and the
// event types that are not standard, for the import summary (a typo'd `lkie` or `category`
// shows up there instead of passing unnoticed).
// Not thread-safe: use one parser per thread (it owns simdjson's reusable buffers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/events/event.h"

namespace funnel::events {

class JsonParser {
 public:
  explicit JsonParser(const ImportConfig& limits);
  ~JsonParser();
  JsonParser(const JsonParser&) = delete;
  JsonParser& operator=(const JsonParser&) = delete;

  // `line` must stay readable for at least kPadding bytes past its end (simdjson reads ahead);
  // importers guarantee that by parsing out of one padded buffer. Use the *Copy variants otherwise.
  static constexpr size_t kPadding = 64;
  Status ParseEvent(std::string_view line, size_t readable_after, Event* out);
  Status ParseItem(std::string_view line, size_t readable_after, Item* out);
  Status ParseUser(std::string_view line, size_t readable_after, User* out);

  Status ParseEventCopy(std::string_view line, Event* out);
  Status ParseItemCopy(std::string_view line, Item* out);
  Status ParseUserCopy(std::string_view line, User* out);

  // Over every record accepted so far, most frequent first (at most 1000 distinct names each):
  // fields that are not part of the record's format, and event types not in kStandardTypes.
  std::vector<std::pair<std::string, uint64_t>> UnknownFields() const;
  std::vector<std::pair<std::string, uint64_t>> NonstandardTypes() const;

  // The field of `kind`'s format that an unknown field name probably meant ("category" ->
  // "categories", "timestamp" -> "ts", "user_id" -> "user"), or "" when none is close.
  static std::string_view SuggestField(std::string_view unknown, RecordKind kind);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace funnel::events
