// The dataset's float text against its simple twin (std::to_chars): every integer where the
// fast path decides between plain digits and scientific form, the edges, and random bit patterns.
#include "features/shortest_float.h"

#include <bit>
#include <cstdint>
#include <random>
#include <string_view>

#include <gtest/gtest.h>

namespace funnel::features {
namespace {

// Compares the two writers on one value; returns false (after one failure message) on a mismatch.
bool Same(float v) {
  char fast[kMaxShortestFloatChars], slow[kMaxShortestFloatChars];
  std::string_view a(fast, WriteShortestFloat(fast, v) - fast);
  std::string_view b(slow, WriteShortestFloatReference(slow, v) - slow);
  if (a == b) return true;
  ADD_FAILURE() << "bits 0x" << std::hex << std::bit_cast<uint32_t>(v) << ": fast '" << a << "', to_chars '" << b << "'";
  return false;
}

TEST(ShortestFloatTest, IntegersAreWrittenAsToCharsWritesThemUpToTwoToThe24) {
  // Every integer below 2^20, then every 7th up to 2^24 (both signs).
  for (int64_t n = 0; n < (1 << 24); n += n < (1 << 20) ? 1 : 7) {
    if (!Same(static_cast<float>(n)) || !Same(-static_cast<float>(n))) return;
  }
}

TEST(ShortestFloatTest, IntegersWithTrailingZerosTakeToCharsChoiceOfForm) {
  // m * 10^k is where the scientific form can be the shorter one ("1e+05", "3.2e+07").
  for (int64_t scale = 10; scale <= 100'000'000; scale *= 10)
    for (int64_t m = 1; m * scale < (int64_t{1} << 25); m += m < 2000 ? 1 : 13)
      if (!Same(static_cast<float>(m * scale)) || !Same(-static_cast<float>(m * scale))) return;
}

TEST(ShortestFloatTest, EdgesAndRandomBitPatternsMatchToChars) {
  const float edges[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 1e-45f, 1.17549435e-38f, 3.4028235e38f,
                         16777215.0f, 16777216.0f, 16777217.0f, 99999.0f, 100000.0f, 1e7f, 0.1f,
                         std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                         std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                         std::bit_cast<float>(0x7fa00001u), std::bit_cast<float>(0xffc00000u)};
  for (float v : edges) Same(v);
  std::mt19937 rng(17);
  for (int i = 0; i < 1'000'000; ++i)
    if (!Same(std::bit_cast<float>(static_cast<uint32_t>(rng())))) return;
}

TEST(ShortestFloatTest, EveryNanIsWrittenNan) {
  char buf[kMaxShortestFloatChars];
  for (uint32_t bits : {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800123u}) {
    std::string_view s(buf, WriteShortestFloat(buf, std::bit_cast<float>(bits)) - buf);
    EXPECT_EQ(s, "nan") << std::hex << bits;
  }
}

}  // namespace
}  // namespace funnel::features
