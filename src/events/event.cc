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
}  // namespace

void Event::DedupeKeyTo(char out[kDedupeKeyBytes]) const {
  // Reused per thread: the importer computes a key per event and a fresh string would cost an
  // allocation each time.
  thread_local std::string canon;
  canon.clear();
  if (!id.empty()) {
    canon.push_back('i');
    canon.append(id);
  } else {
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
  }
  Hash128 h = StableHash128(canon);
  std::memcpy(out, &h.low, 8);
  std::memcpy(out + 8, &h.high, 8);
}

std::string Event::DedupeKey() const {
  std::string key(kDedupeKeyBytes, '\0');
  DedupeKeyTo(key.data());
  return key;
}

}  // namespace funnel::events
