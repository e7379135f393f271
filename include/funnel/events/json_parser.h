// Parses and validates one JSON Lines record (event, item or user) with simdjson.
// Errors say which field is wrong and why, e.g. `field "ts": expected a number, got string`;
// the importer prefixes them with the source and line number.
// Not thread-safe: use one parser per thread (it owns simdjson's reusable buffers).
#pragma once

#include <memory>
#include <string_view>

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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace funnel::events
