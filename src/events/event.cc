#include "funnel/events/event.h"

#include <bit>
#include <cstring>

#include "funnel/core/hash.h"

namespace funnel::events {

namespace {
void AppendField(std::string& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);  // length-prefixed: no separator ambiguity
  out.append(s);
}
// Fixed-size keys keep the dedupe index compact and evenly spread over hash buckets.
std::string HashKey(std::string_view canon) {
  Hash128 h = StableHash128(canon);
  std::string key(16, '\0');
  std::memcpy(key.data(), &h.low, 8);
  std::memcpy(key.data() + 8, &h.high, 8);
  return key;
}

}  // namespace

std::string Event::DedupeKey() const {
  std::string canon;
  canon.reserve(user.size() + item.size() + type.size() + request_id.size() + context.size() + 48);
  if (!id.empty()) {
    canon.push_back('i');
    canon.append(id);
    return HashKey(canon);
  }
  canon.push_back('c');
  AppendField(canon, user);
  AppendField(canon, item);
  AppendField(canon, type);
  int64_t micros = ts.micros();
  canon.append(reinterpret_cast<const char*>(&micros), sizeof micros);
  uint64_t value_bits = value ? std::bit_cast<uint64_t>(*value) : ~uint64_t{0};
  canon.push_back(value ? 1 : 0);
  canon.append(reinterpret_cast<const char*>(&value_bits), sizeof value_bits);
  AppendField(canon, request_id);
  AppendField(canon, context);
  return HashKey(canon);
}

}  // namespace funnel::events
