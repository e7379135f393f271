// Event::DedupeKeyTo, the importer's allocation-free key, against the canonical form spelled
// out here: stores on disk hold these keys, so they must never change.
#include "funnel/events/event.h"

#include <bit>
#include <cstring>

#include <gtest/gtest.h>

#include "funnel/core/hash.h"

namespace funnel::events {
namespace {

void Field(std::string& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(s);
}

// The exact twin: the canonical bytes built plainly, then hashed.
std::string CanonicalKey(const Event& e) {
  std::string canon;
  if (!e.id.empty()) {
    canon = "i" + e.id;
  } else {
    canon = "c";
    Field(canon, e.user);
    Field(canon, e.item);
    Field(canon, e.type);
    int64_t micros = e.ts.micros();
    canon.append(reinterpret_cast<const char*>(&micros), sizeof micros);
    uint64_t bits = e.value ? std::bit_cast<uint64_t>(*e.value) : ~uint64_t{0};
    canon.push_back(e.value ? 1 : 0);
    canon.append(reinterpret_cast<const char*>(&bits), sizeof bits);
    Field(canon, e.request_id);
    Field(canon, e.context);
  }
  Hash128 h = StableHash128(canon);
  std::string key(16, '\0');
  std::memcpy(key.data(), &h.low, 8);
  std::memcpy(key.data() + 8, &h.high, 8);
  return key;
}

std::string KeyTo(const Event& e) {
  char out[Event::kDedupeKeyBytes];
  e.DedupeKeyTo(out);
  return std::string(out, sizeof out);
}

TEST(EventTest, DedupeKeyToEqualsTheCanonicalHashWhateverRanBefore) {
  Event big;
  big.user = std::string(500, 'u');
  big.item = std::string(300, 'i');
  big.type = "click";
  big.context = std::string(2000, 'c');
  Event plain;
  plain.user = "u1";
  plain.item = "v9";
  plain.type = "watch";
  plain.ts = Timestamp::FromSeconds(1700000000.25);
  Event valued = plain;
  valued.value = 12.5;
  Event zero = plain;
  zero.value = 0.0;  // a value of zero differs from no value
  Event with_id = valued;
  with_id.id = "e-42";
  Event request = plain;
  request.request_id = "r-7";
  // The big event first: the reused canonical buffer must not leak its bytes into later keys.
  for (const Event* e : {&big, &plain, &valued, &zero, &with_id, &request, &big, &plain}) {
    EXPECT_EQ(KeyTo(*e), CanonicalKey(*e));
    EXPECT_EQ(e->DedupeKey(), CanonicalKey(*e));
  }
  EXPECT_NE(KeyTo(plain), KeyTo(valued));
  EXPECT_NE(KeyTo(plain), KeyTo(zero));
  EXPECT_NE(KeyTo(plain), KeyTo(request));
  Event other_content = with_id;
  other_content.item = "elsewhere";
  EXPECT_EQ(KeyTo(other_content), KeyTo(with_id));  // the id alone decides
}

}  // namespace
}  // namespace funnel::events
