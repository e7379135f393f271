// The request path's kernels (the AVX2 + FMA versions on CPUs that have them, else the
// baseline) against plain double loops, over sizes that exercise every tail: dimensions below,
// at and past the vector widths, row counts not multiple of four.
#include "retrieval/dot_kernels.h"

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
