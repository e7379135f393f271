#include "store/key_filter.h"

#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace funnel::store {
namespace {

std::vector<char> RandomKeys(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<char> keys(n * KeyFilter::kKeyBytes);
  for (size_t i = 0; i < keys.size(); i += 8) {
    uint64_t w = rng();
    std::memcpy(keys.data() + i, &w, 8);
  }
  return keys;
}

TEST(KeyFilterTest, EveryAddedKeyIsReportedAcrossSegmentGrowth) {
  // More keys than the first segment holds, so lookups span several segments.
  const size_t n = 2'500'000;
  std::vector<char> keys = RandomKeys(n, 1);
  KeyFilter filter;
  for (size_t i = 0; i < n; ++i) filter.Add(keys.data() + i * KeyFilter::kKeyBytes);
  EXPECT_EQ(filter.size(), n);
  size_t missing = 0;
  for (size_t i = 0; i < n; ++i) missing += !filter.MayContain(keys.data() + i * KeyFilter::kKeyBytes);
  EXPECT_EQ(missing, 0u);
  // Keys never added are mostly told apart (about 1% per segment may pass).
  std::vector<char> others = RandomKeys(200'000, 2);
  size_t passed = 0;
  for (size_t i = 0; i < 200'000; ++i) passed += filter.MayContain(others.data() + i * KeyFilter::kKeyBytes);
  EXPECT_LT(passed, 200'000u * 5 / 100);
}

TEST(KeyFilterTest, AnEmptyFilterContainsNothing) {
  KeyFilter filter;
  std::vector<char> keys = RandomKeys(100, 3);
  for (size_t i = 0; i < 100; ++i) EXPECT_FALSE(filter.MayContain(keys.data() + i * KeyFilter::kKeyBytes));
}

}  // namespace
}  // namespace funnel::store
