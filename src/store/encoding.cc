#include "store/encoding.h"

#include <bit>

namespace funnel::store::encoding {

namespace {
constexpr uint8_t kHasValue = 1;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
bool GetVarint(std::string_view& in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in.empty(); shift += 7) {
    uint8_t byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    result |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}
void PutFixed32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void PutFixed16(std::string& out, uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); }
void PutDouble(std::string& out, double d) {
  uint64_t bits = std::bit_cast<uint64_t>(d);
  out.append(reinterpret_cast<const char*>(&bits), 8);
}
template <typename T>
bool GetFixed(std::string_view& in, T* v) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(v, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return true;
}
}  // namespace

void PutString(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

bool GetString(std::string_view& in, std::string_view* s) {
  uint64_t n = 0;
  if (!GetVarint(in, &n) || n > in.size()) return false;
  *s = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

std::string EventKey(Timestamp ts, uint64_t seq) {
  std::string k;
  k.reserve(16);
  PutBE64(k, TimeBits(ts));
  PutBE64(k, seq);
  return k;
}

std::string HistoryKey(UserIdx user, Timestamp ts, uint64_t seq) {
  std::string k;
  k.reserve(20);
  PutBE32(k, Raw(user));
  PutBE64(k, TimeBits(ts));
  PutBE64(k, seq);
  return k;
}

std::string DictKey(char kind, uint32_t idx) {
  std::string k(1, kind);
  PutBE32(k, idx);
  return k;
}

// Layout: user u32, item u32, type u16, flags u8, [value f64], id, request_id, context.
void EncodeEventValue(const EventValue& v, std::string& out) {
  out.clear();
  PutFixed32(out, Raw(v.user));
  PutFixed32(out, Raw(v.item));
  PutFixed16(out, Raw(v.type));
  out.push_back(static_cast<char>(v.value ? kHasValue : 0));
  if (v.value) PutDouble(out, *v.value);
  PutString(out, v.id);
  PutString(out, v.request_id);
  PutString(out, v.context);
}

bool DecodeEventValue(std::string_view in, EventValue* v) {
  uint32_t user = 0, item = 0;
  uint16_t type = 0;
  uint8_t flags = 0;
  if (!GetFixed(in, &user) || !GetFixed(in, &item) || !GetFixed(in, &type) ||
      !GetFixed(in, &flags))
    return false;
  v->user = UserIdx{user};
  v->item = ItemIdx{item};
  v->type = TypeIdx{type};
  v->value.reset();
  if (flags & kHasValue) {
    double d = 0;
    if (!GetFixed(in, &d)) return false;
    v->value = d;
  }
  return GetString(in, &v->id) && GetString(in, &v->request_id) && GetString(in, &v->context);
}

// Layout: item u32, type u16, flags u8, [value f64].
void EncodeHistoryValue(const HistoryValue& v, std::string& out) {
  out.clear();
  PutFixed32(out, Raw(v.item));
  PutFixed16(out, Raw(v.type));
  out.push_back(static_cast<char>(v.value ? kHasValue : 0));
  if (v.value) PutDouble(out, *v.value);
}

bool DecodeHistoryValue(std::string_view in, HistoryValue* v) {
  uint32_t item = 0;
  uint16_t type = 0;
  uint8_t flags = 0;
  if (!GetFixed(in, &item) || !GetFixed(in, &type) || !GetFixed(in, &flags)) return false;
  v->item = ItemIdx{item};
  v->type = TypeIdx{type};
  v->value.reset();
  if (flags & kHasValue) {
    double d = 0;
    if (!GetFixed(in, &d)) return false;
    v->value = d;
  }
  return true;
}

// Layout: flags u8 (1 = has ts), [ts i64 micros], n_categories varint, categories, creator,
// attributes.
void EncodeItem(const events::Item& item, std::string& out) {
  out.clear();
  out.push_back(static_cast<char>(item.ts ? 1 : 0));
  if (item.ts) {
    int64_t micros = item.ts->micros();
    out.append(reinterpret_cast<const char*>(&micros), 8);
  }
  PutVarint(out, item.categories.size());
  for (const auto& c : item.categories) PutString(out, c);
  PutString(out, item.creator);
  PutString(out, item.attributes);
}

bool DecodeItem(std::string_view in, events::Item* item) {
  uint8_t flags = 0;
  if (!GetFixed(in, &flags)) return false;
  item->ts.reset();
  if (flags & 1) {
    int64_t micros = 0;
    if (!GetFixed(in, &micros)) return false;
    item->ts = Timestamp::FromMicros(micros);
  }
  uint64_t n = 0;
  if (!GetVarint(in, &n) || n > in.size()) return false;
  item->categories.clear();
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view c;
    if (!GetString(in, &c)) return false;
    item->categories.emplace_back(c);
  }
  std::string_view creator, attributes;
  if (!GetString(in, &creator) || !GetString(in, &attributes)) return false;
  item->creator.assign(creator);
  item->attributes.assign(attributes);
  return true;
}

}  // namespace funnel::store::encoding
