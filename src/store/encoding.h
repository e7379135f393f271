// Binary encodings of the event store's keys and values (docs/formats/event-store.md).
// Keys are big-endian so RocksDB's bytewise order is numeric order; timestamps have their
// sign bit flipped so negative times would still sort first.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "funnel/core/ids.h"
#include "funnel/core/time.h"
#include "funnel/events/event.h"

namespace funnel::store::encoding {

inline void PutBE64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
inline void PutBE32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
inline uint64_t GetBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint32_t GetBE32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t TimeBits(Timestamp t) { return static_cast<uint64_t>(t.micros()) ^ (uint64_t{1} << 63); }
inline Timestamp TimeFromBits(uint64_t b) {
  return Timestamp::FromMicros(static_cast<int64_t>(b ^ (uint64_t{1} << 63)));
}

inline void PutBE64To(char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v);
}
inline void PutBE32To(char* out, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v);
}

// events: ts(8) seq(8)
constexpr size_t kEventKeyBytes = 16;
inline void EventKeyTo(char* out, Timestamp ts, uint64_t seq) {
  PutBE64To(out, TimeBits(ts));
  PutBE64To(out + 8, seq);
}
std::string EventKey(Timestamp ts, uint64_t seq);
// history: user(4) ts(8) seq(8)
constexpr size_t kHistoryKeyBytes = 20;
inline void HistoryKeyTo(char* out, UserIdx user, Timestamp ts, uint64_t seq) {
  PutBE32To(out, Raw(user));
  PutBE64To(out + 4, TimeBits(ts));
  PutBE64To(out + 12, seq);
}
std::string HistoryKey(UserIdx user, Timestamp ts, uint64_t seq);
// dict: kind(1) idx(4) -> name
std::string DictKey(char kind, uint32_t idx);

struct EventValue {
  UserIdx user{};
  ItemIdx item{};
  TypeIdx type{};
  std::optional<double> value;
  std::string_view id, request_id, context;
};
void EncodeEventValue(const EventValue& v, std::string& out);
bool DecodeEventValue(std::string_view in, EventValue* v);

struct HistoryValue {
  ItemIdx item{};
  TypeIdx type{};
  std::optional<double> value;
};
void EncodeHistoryValue(const HistoryValue& v, std::string& out);
bool DecodeHistoryValue(std::string_view in, HistoryValue* v);

void EncodeItem(const events::Item& item, std::string& out);
bool DecodeItem(std::string_view in, events::Item* item);

// Length-prefixed (varint) strings, as in the values above.
void PutString(std::string& out, std::string_view s);
bool GetString(std::string_view& in, std::string_view* s);

}  // namespace funnel::store::encoding
