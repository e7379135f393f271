// The request path's kernels (the AVX2 + FMA versions on CPUs that have them, else the
// baseline) against plain double loops, over sizes that exercise every tail: dimensions below,
// at and past the vector widths, row counts not multiple of four.
#include "retrieval/dot_kernels.h"

#include <bit>
#include <limits>

#include "retrieval/half_float.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace funnel::retrieval::internal {
namespace {

std::vector<float> Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(DotKernelsTest, DotRowsEqualsPlainDotProducts) {
  SCOPED_TRACE(DotRowsIsa());
  for (int dim : {1, 3, 8, 15, 16, 17, 64, 65, 100}) {
    for (uint32_t n : {1u, 3u, 4u, 7u, 1024u}) {
      const std::vector<float> rows = Random(size_t{n} * dim, dim * 1000 + n), q = Random(dim, 7);
      std::vector<float> out(n, -1);
      DotRows(rows.data(), n, dim, q.data(), out.data());
      for (uint32_t r = 0; r < n; ++r) {
        double want = 0, scale = 0;
        for (int j = 0; j < dim; ++j) {
          want += double{rows[size_t{r} * dim + j]} * q[j];
          scale += std::fabs(double{rows[size_t{r} * dim + j]} * q[j]);
        }
        ASSERT_NEAR(out[r], want, 1e-5 * (1 + scale)) << "dim " << dim << " n " << n << " row " << r;
      }
    }
  }
}

TEST(HalfFloatTest, ConversionsRoundToNearestEvenAndRoundTripEveryHalf) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::pair<float, uint16_t> cases[] = {
      {0.0f, 0x0000},        {-0.0f, 0x8000},          {1.0f, 0x3c00},          {-2.0f, 0xc000},
      {65504.0f, 0x7bff},    {65519.0f, 0x7bff},       {65520.0f, 0x7c00},      {1e9f, 0x7c00},
      {inf, 0x7c00},         {-inf, 0xfc00},           {0x1p-14f, 0x0400},      {0x1p-24f, 0x0001},
      {0x1p-25f, 0x0000},    {0x3p-25f, 0x0002},       {0x1p-26f, 0x0000},      {1.0f + 0x1p-11f, 0x3c00},
      {1.0f + 0x3p-11f, 0x3c02}, {1.0f + 0x1p-10f, 0x3c01}, {0.1f, 0x2e66},      {0x1.ffep-15f, 0x0400}};
  for (const auto& [f, h] : cases) EXPECT_EQ(FloatToHalf(f), h) << f;
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::numeric_limits<float>::quiet_NaN()))));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), h) << std::hex << h;
    // Halfway to the next half up rounds to the even one of the two.
    if ((h & 0x7fffu) < 0x7bffu) {
      const float next = HalfToFloat(static_cast<uint16_t>(h + 1));
      const float mid = f + (next - f) / 2;  // exact: halves have 11 significant bits
      const uint16_t even = (h & 1u) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
      if (!(h & 0x8000u)) {
        ASSERT_EQ(FloatToHalf(mid), even) << std::hex << h;
      }
    }
  }
}

TEST(DotKernelsTest, DotRowsHalfEqualsPlainDotProductsOfTheHalfValues) {
  SCOPED_TRACE(HalfRowsAreFast() ? "f16c" : "baseline");
  for (int dim : {1, 7, 8, 13, 16, 24, 64, 65}) {
    for (uint32_t n : {1u, 3u, 4u, 9u, 1024u}) {
      const std::vector<float> rows = Random(size_t{n} * dim, dim * 31 + n), q = Random(dim, 11);
      std::vector<uint16_t> halves(rows.size());
      for (size_t i = 0; i < rows.size(); ++i) halves[i] = FloatToHalf(rows[i]);
      std::vector<float> out(n + 1, -7.0f);
      DotRowsHalf(halves.data(), n, dim, q.data(), out.data());
      for (uint32_t r = 0; r < n; ++r) {
        double want = 0, scale = 0;
        for (int j = 0; j < dim; ++j) {
          const double x = HalfToFloat(halves[size_t{r} * dim + j]);
          want += x * q[j];
          scale += std::fabs(x * q[j]);
        }
        ASSERT_NEAR(out[r], want, 1e-5 * (1 + scale)) << "dim " << dim << " n " << n << " row " << r;
      }
      EXPECT_EQ(out[n], -7.0f) << "wrote past n";
    }
  }
}

TEST(DotKernelsTest, AddOuterProductsAddsEveryColumnsOuterProductToTheLowerTriangle) {
  for (int f : {1, 4, 5, 16, 17, 20, 32, 64, 67}) {
    for (int n : {0, 1, 2, 9, 256}) {
      const std::vector<float> x = Random(size_t(f) * n, f * 100 + n);
      std::vector<float> c = Random(size_t(f) * f, 3);  // accumulates onto what is there
      const std::vector<float> before = c;
      AddOuterProducts(x.data(), f, n, c.data());
      for (int j = 0; j < f; ++j)
        for (int i = j; i < f; ++i) {
          double want = before[size_t(j) * f + i], scale = std::fabs(want);
          for (int k = 0; k < n; ++k) {
            want += double{x[size_t(k) * f + i]} * x[size_t(k) * f + j];
            scale += std::fabs(double{x[size_t(k) * f + i]} * x[size_t(k) * f + j]);
          }
          ASSERT_NEAR(c[size_t(j) * f + i], want, 1e-5 * (1 + scale)) << "f " << f << " n " << n << " (" << i << ", " << j << ")";
        }
    }
  }
}

}  // namespace
}  // namespace funnel::retrieval::internal
