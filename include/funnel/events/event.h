// Events, items and users: the records every Funnel stage is built on.
//
// An event is one thing a user did to an item at a time (docs/formats.md):
//   {"user":"u1","item":"v9","type":"like","ts":1700000000.5,"value":1,"id":"e-123",
//    "request_id":"r-7","context":{"device":"ios"}}
// `user`, `item`, `type` and `ts` (Unix seconds) are required. `id` is the dedupe key: an event
// whose id was already stored is skipped; without an id, the canonical content is the key.
//
//   EventParser parser(cfg.import);
//   Event e;
//   if (Status s = parser.ParseEvent(line, &e); !s.ok()) report(s);
//
// Items and users are upserted, and a record is a JSON Merge Patch (RFC 7396) of the stored one:
// a field the record leaves out keeps its stored value, an explicit `null` clears it, and
// `attributes` merges key by key (a `null` value deletes that key, nested objects merge the same
// way). So `{"item":"v9","creator":"c5"}` changes the creator and nothing else, and
// `{"item":"v9","attributes":{"duration":null}}` drops one attribute. `Item::fields` and
// `User::fields` say which fields a record carries; records built in code carry them all.
// An item or user record with an event's fields (`user` on an item, `item` on a user, or `type`
// without any of the record's own fields) is refused: it is an event fed to the wrong import.
//
// Ids (`user`, `item`, an event's `id` and `request_id`, an item's `creator`) are strings; a
// JSON integer token is read as its decimal text (`7` is "7", `-3` is "-3"), since exports from
// SQL tables have numeric keys. Other numbers (`7.5`, also `7.0` and `1e3`) and booleans are
// refused: an id that went through a float may have lost digits.
// The standard types match without regard to case (`"Like"` is stored as `like`); any other
// type is stored as written.
//
// Thread-safety: value types; a parser holds per-call buffers, so use one parser per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/time.h"

namespace funnel::events {

// The standard event types; any other type matching [A-Za-z0-9_.-]{1,64} is allowed too.
inline constexpr const char* kStandardTypes[] = {"impression", "click",   "view",     "watch",
                                                 "like",       "dislike", "share",    "skip",
                                                 "rating",     "purchase", "add_to_cart"};

// The kinds of record an import reads.
enum class RecordKind { kEvent, kItem, kUser };

// The standard type that `type` names regardless of case ("Like" -> "like"), else nullptr.
const char* StandardTypeIgnoringCase(std::string_view type);
// True when `type` is exactly one of kStandardTypes (cheap: the importer asks it per event).
bool IsStandardType(std::string_view type);

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

// Bits of Item::fields / User::fields: the fields an upsert record carries. A set bit with an
// empty value (no ts, no categories, empty attributes) clears the stored field; the JSON said null.
enum RecordField : uint8_t {
  kFieldTs = 1,
  kFieldCategories = 2,
  kFieldCreator = 4,
  kFieldAttributes = 8,
};
inline constexpr uint8_t kAllItemFields = kFieldTs | kFieldCategories | kFieldCreator | kFieldAttributes;
inline constexpr uint8_t kAllUserFields = kFieldAttributes;

struct Item {
  std::string item;
  std::optional<Timestamp> ts;  // creation / upload time
  std::vector<std::string> categories;
  std::string creator;          // empty when absent
  std::string attributes;       // minified JSON object text; empty when absent
  // Which of the above this record sets when upserted (RecordField bits). Stored records and
  // records built in code have them all; the JSON parser sets only what the line carried.
  uint8_t fields = kAllItemFields;
};

struct User {
  std::string user;
  std::string attributes;  // minified JSON object text; empty when absent
  uint8_t fields = kAllUserFields;  // as Item::fields
};

// Applies an upsert record to the stored one (the rules at the top of this file). `stored` is
// an empty record (just the id) when nothing was stored yet; the result has every field.
void ApplyPatch(const Item& patch, Item* stored);
void ApplyPatch(const User& patch, User* stored);

}  // namespace funnel::events
