// Events, items and users: the records every Funnel stage is built on.
//
// An event is one thing a user did to an item at a time (DESIGN.md, "Contracts"):
//   {"user":"u1","item":"v9","type":"like","ts":1700000000.5,"value":1,"id":"e-123",
//    "request_id":"r-7","context":{"device":"ios"}}
// `user`, `item`, `type` and `ts` (Unix seconds) are required. `id` is the dedupe key: an event
// whose id was already stored is skipped; without an id, the canonical content is the key.
//
//   EventParser parser(cfg.import);
//   Event e;
//   if (Status s = parser.ParseEvent(line, &e); !s.ok()) report(s);
// Thread-safety: value types; a parser holds per-call buffers, so use one parser per thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "funnel/core/time.h"

namespace funnel::events {

// The standard event types; any other type matching [A-Za-z0-9_.-]{1,64} is allowed too.
inline constexpr const char* kStandardTypes[] = {"impression", "click",   "view",     "watch",
                                                 "like",       "dislike", "share",    "skip",
                                                 "rating",     "purchase", "add_to_cart"};

struct Event {
  std::string user;
  std::string item;
  std::string type;
  Timestamp ts;
  std::optional<double> value;
  std::string id;          // empty when absent
  std::string request_id;  // empty when absent
  std::string context;     // minified JSON object text; empty when absent

  // The key that makes ingestion idempotent: the stable 128-bit hash (16 bytes) of "i" + id,
  // or of "c" + the canonical content (user, item, type, ts in microseconds, value,
  // request_id, context) when there is no id.
  std::string DedupeKey() const;
  // The same key written to `out`, without allocating (the importer's per-event path).
  static constexpr size_t kDedupeKeyBytes = 16;
  void DedupeKeyTo(char out[kDedupeKeyBytes]) const;
};

struct Item {
  std::string item;
  std::optional<Timestamp> ts;  // creation / upload time
  std::vector<std::string> categories;
  std::string creator;          // empty when absent
  std::string attributes;       // minified JSON object text; empty when absent
};

struct User {
  std::string user;
  std::string attributes;  // minified JSON object text; empty when absent
};

}  // namespace funnel::events
