// IEEE binary16 ("half") conversions in portable code, for the exact index's half-precision
// copy of the item vectors. The build targets baseline x86-64, where F16C is not guaranteed,
// and the conversion runs once per vector at load, so a few integer operations per value cost
// nothing that matters; the scan itself converts with F16C when the CPU has it (dot_kernels.h).
//
// Thread-safety: pure functions.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace funnel::retrieval::internal {

// Round to nearest, ties to even (as the hardware's conversion); beyond the half range: ±inf;
// NaN stays NaN.
inline uint16_t FloatToHalf(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs_bits < 0x38800000u) {
    // Below 2^-14: a multiple of 2^-24 (subnormal or zero). Scaling by 2^24 is exact and
    // nearbyint rounds half to even; 1024 is the smallest normal's encoding, as it should be.
    const float scaled = std::bit_cast<float>(abs_bits) * 0x1p24f;
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(scaled)));
  }
  const uint32_t exponent = (abs_bits >> 23) - 127 + 15;
  const uint32_t mantissa = abs_bits & 0x7fffffu;
  uint32_t h = (exponent << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry moves into the exponent
  if (h >= 0x7c00u) h = 0x7c00u;                              // overflow (and inf) to inf
  return static_cast<uint16_t>(sign | h);
}

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0) {
    const float v = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

}  // namespace funnel::retrieval::internal
