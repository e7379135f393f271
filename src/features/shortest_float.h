// The text of a float in dataset files: exactly what std::to_chars(float) writes (the shortest
// decimal that reads back to the same float, "nan" for every NaN), with a fast path for the
// integer values that dominate the label and count columns. The fast path exists because the
// shortest-form search costs about as much as computing a row of features; it is tested against
// std::to_chars itself (tests/features/shortest_float_test.cc).
//
// Thread-safety: pure functions.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace funnel::features {

// Room WriteShortestFloat may use: "-1.2345678e-38" is 14 characters.
inline constexpr size_t kMaxShortestFloatChars = 16;

// The simple twin: std::to_chars, with every NaN written as "nan".
inline char* WriteShortestFloatReference(char* p, float v) {
  if (std::isnan(v)) v = std::numeric_limits<float>::quiet_NaN();
  return std::to_chars(p, p + kMaxShortestFloatChars, v).ptr;
}

// Writes v at p (at most kMaxShortestFloatChars bytes) and returns the end.
inline char* WriteShortestFloat(char* p, float v) {
  if (std::isnan(v)) {  // missing values are common
    std::memcpy(p, "nan", 3);
    return p + 3;
  }
  // Integers of magnitude below 2^24 are exact in a float. std::to_chars then picks the plain
  // digits unless the scientific form ("3e+06") is strictly shorter, which happens only with
  // trailing zeros; those rare values, -0 and everything else take the general path.
  if (v == std::trunc(v) && std::fabs(v) < 16777216.0f && !(v == 0 && std::signbit(v))) {
    uint32_t n = static_cast<uint32_t>(std::fabs(v));
    char digits[8];
    int len = 0;
    do {
      digits[len++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    int zeros = 0;
    while (zeros < len - 1 && digits[zeros] == '0') ++zeros;
    const int significant = len - zeros;
    const int scientific = significant + (significant > 1 ? 1 : 0) + 4;  // d[.ddd]e+XX
    if (len <= scientific) {
      if (v < 0) *p++ = '-';
      while (len > 0) *p++ = digits[--len];
      return p;
    }
  }
  return WriteShortestFloatReference(p, v);
}

}  // namespace funnel::features
