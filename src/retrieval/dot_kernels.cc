#include "retrieval/dot_kernels.h"

#include <algorithm>

#include <Eigen/Core>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FUNNEL_DOT_AVX2 1
#endif

namespace funnel::retrieval::internal {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void DotRowsBaseline(const float* rows, uint32_t n, int dim, const float* query, float* out) {
  Eigen::Map<const RowMatrix> block(rows, n, dim);
  Eigen::Map<const Eigen::VectorXf> q(query, dim);
  Eigen::Map<Eigen::VectorXf>(out, n).noalias() = block * q;
}

void DotRowsGatherBaseline(const float* rows, const uint32_t* ids, uint32_t n, int dim, const float* query,
                           float* out) {
  Eigen::Map<const Eigen::VectorXf> q(query, dim);
  for (uint32_t i = 0; i < n; ++i) out[i] = Eigen::Map<const Eigen::VectorXf>(rows + size_t{ids[i]} * dim, dim).dot(q);
}

#ifdef FUNNEL_DOT_AVX2
[[gnu::target("avx2,fma")]] inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Four rows' products with the query, 8 columns at a time from j to vec_end; returns vec_end.
[[gnu::target("avx2,fma")]] inline int AccumulateFour(const float* y0, const float* y1, const float* y2,
                                                      const float* y3, const float* query, int j, int vec_end,
                                                      __m256& a0, __m256& a1, __m256& a2, __m256& a3) {
  for (; j < vec_end; j += 8) {
    const __m256 va = _mm256_loadu_ps(query + j);
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(y0 + j), va, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(y1 + j), va, a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(y2 + j), va, a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(y3 + j), va, a3);
  }
  return j;
}

// The end of a four-row step shared by both kernels: the vector sums, the scalar tail from
// column j, the four results.
[[gnu::target("avx2,fma")]] inline void FinishFour(const float* y0, const float* y1, const float* y2, const float* y3,
                                                   const float* query, int j, int dim, __m256 a0, __m256 a1,
                                                   __m256 a2, __m256 a3, float* out) {
  float s0 = HorizontalSum(a0), s1 = HorizontalSum(a1), s2 = HorizontalSum(a2), s3 = HorizontalSum(a3);
  for (; j < dim; ++j) {
    s0 += y0[j] * query[j];
    s1 += y1[j] * query[j];
    s2 += y2[j] * query[j];
    s3 += y3[j] * query[j];
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

// Four rows at a time, two accumulators each: eight independent FMA chains keep both FMA
// ports busy, and each query load serves four rows.
[[gnu::target("avx2,fma")]] void DotRowsAvx2(const float* rows, uint32_t n, int dim, const float* query,
                                             float* out) {
  const size_t stride = static_cast<size_t>(dim);
  const int vec_end = dim - dim % 8;
  uint32_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const float* y0 = rows + r * stride;
    const float* y1 = y0 + stride;
    const float* y2 = y1 + stride;
    const float* y3 = y2 + stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int j = 0;
    for (; j + 16 <= vec_end; j += 16) {
      const __m256 va = _mm256_loadu_ps(query + j), vb = _mm256_loadu_ps(query + j + 8);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(y0 + j), va, a0);
      b0 = _mm256_fmadd_ps(_mm256_loadu_ps(y0 + j + 8), vb, b0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(y1 + j), va, a1);
      b1 = _mm256_fmadd_ps(_mm256_loadu_ps(y1 + j + 8), vb, b1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(y2 + j), va, a2);
      b2 = _mm256_fmadd_ps(_mm256_loadu_ps(y2 + j + 8), vb, b2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(y3 + j), va, a3);
      b3 = _mm256_fmadd_ps(_mm256_loadu_ps(y3 + j + 8), vb, b3);
    }
    j = AccumulateFour(y0, y1, y2, y3, query, j, vec_end, a0, a1, a2, a3);
    FinishFour(y0, y1, y2, y3, query, j, dim, _mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1), _mm256_add_ps(a2, b2),
               _mm256_add_ps(a3, b3), out + r);
  }
  for (; r < n; ++r) {
    const float* y = rows + r * stride;
    __m256 a = _mm256_setzero_ps();
    int j = 0;
    for (; j < vec_end; j += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(y + j), _mm256_loadu_ps(query + j), a);
    float s = HorizontalSum(a);
    for (; j < dim; ++j) s += y[j] * query[j];
    out[r] = s;
  }
}

// DotRowsAvx2's scheme over rows picked by id: four rows at a time, so four independent
// chains of loads hide part of the latency of rows that are not in cache.
[[gnu::target("avx2,fma")]] void DotRowsGatherAvx2(const float* rows, const uint32_t* ids, uint32_t n, int dim,
                                                   const float* query, float* out) {
  const size_t stride = static_cast<size_t>(dim);
  const int vec_end = dim - dim % 8;
  uint32_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const float* y0 = rows + ids[r] * stride;
    const float* y1 = rows + ids[r + 1] * stride;
    const float* y2 = rows + ids[r + 2] * stride;
    const float* y3 = rows + ids[r + 3] * stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int j = 0;
    j = AccumulateFour(y0, y1, y2, y3, query, j, vec_end, a0, a1, a2, a3);
    FinishFour(y0, y1, y2, y3, query, j, dim, a0, a1, a2, a3, out + r);
  }
  for (; r < n; ++r) {
    const float* y = rows + ids[r] * stride;
    __m256 a = _mm256_setzero_ps(), b = a;
    int j = 0;
    for (; j + 16 <= vec_end; j += 16) {
      a = _mm256_fmadd_ps(_mm256_loadu_ps(y + j), _mm256_loadu_ps(query + j), a);
      b = _mm256_fmadd_ps(_mm256_loadu_ps(y + j + 8), _mm256_loadu_ps(query + j + 8), b);
    }
    for (; j < vec_end; j += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(y + j), _mm256_loadu_ps(query + j), a);
    float s = HorizontalSum(_mm256_add_ps(a, b));
    for (; j < dim; ++j) s += y[j] * query[j];
    out[r] = s;
  }
}

// c[i, j] += Σ_k x[i, k]·x[j, k] by tiles of 16 rows x 4 columns held in eight registers for the
// whole sweep over k: per column k, two loads and four broadcasts feed eight FMAs. Tiles wholly
// above the diagonal are skipped; rows past the last multiple of 16 and f % 4 columns go scalar.
[[gnu::target("avx2,fma")]] void AddOuterProductsAvx2(const float* x, int f, int n, float* c) {
  const int row_end = f - f % 16, col_end = f - f % 4;
  const size_t stride = static_cast<size_t>(f);
  for (int j = 0; j < col_end; j += 4) {
    for (int i = j - j % 16; i < row_end; i += 16) {
      // Eight named accumulators, not an array: GCC at -O2 keeps an indexed array in memory.
      float* c0 = c + j * stride + i;
      float* c1 = c0 + stride;
      float* c2 = c1 + stride;
      float* c3 = c2 + stride;
      __m256 a0 = _mm256_loadu_ps(c0), b0 = _mm256_loadu_ps(c0 + 8);
      __m256 a1 = _mm256_loadu_ps(c1), b1 = _mm256_loadu_ps(c1 + 8);
      __m256 a2 = _mm256_loadu_ps(c2), b2 = _mm256_loadu_ps(c2 + 8);
      __m256 a3 = _mm256_loadu_ps(c3), b3 = _mm256_loadu_ps(c3 + 8);
      const float* col = x;
      for (int k = 0; k < n; ++k, col += stride) {
        const __m256 lo = _mm256_loadu_ps(col + i), hi = _mm256_loadu_ps(col + i + 8);
        __m256 w = _mm256_broadcast_ss(col + j);
        a0 = _mm256_fmadd_ps(lo, w, a0);
        b0 = _mm256_fmadd_ps(hi, w, b0);
        w = _mm256_broadcast_ss(col + j + 1);
        a1 = _mm256_fmadd_ps(lo, w, a1);
        b1 = _mm256_fmadd_ps(hi, w, b1);
        w = _mm256_broadcast_ss(col + j + 2);
        a2 = _mm256_fmadd_ps(lo, w, a2);
        b2 = _mm256_fmadd_ps(hi, w, b2);
        w = _mm256_broadcast_ss(col + j + 3);
        a3 = _mm256_fmadd_ps(lo, w, a3);
        b3 = _mm256_fmadd_ps(hi, w, b3);
      }
      _mm256_storeu_ps(c0, a0);
      _mm256_storeu_ps(c0 + 8, b0);
      _mm256_storeu_ps(c1, a1);
      _mm256_storeu_ps(c1 + 8, b1);
      _mm256_storeu_ps(c2, a2);
      _mm256_storeu_ps(c2 + 8, b2);
      _mm256_storeu_ps(c3, a3);
      _mm256_storeu_ps(c3 + 8, b3);
    }
  }
  // The rest: rows row_end.. of every column, and the columns col_end.. entirely.
  for (int j = 0; j < f; ++j)
    for (int i = j < col_end ? std::max(row_end, j) : j; i < f; ++i) {
      float s = 0;
      for (int k = 0; k < n; ++k) s += x[k * stride + i] * x[k * stride + j];
      c[j * stride + i] += s;
    }
}

bool HasAvx2Fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif

void AddOuterProductsBaseline(const float* x, int f, int n, float* c) {
  Eigen::Map<Eigen::MatrixXf> cm(c, f, f);
  cm.selfadjointView<Eigen::Lower>().rankUpdate(Eigen::Map<const Eigen::MatrixXf>(x, f, n));
}

using DotRowsFn = void (*)(const float*, uint32_t, int, const float*, float*);
using OuterFn = void (*)(const float*, int, int, float*);
using GatherFn = void (*)(const float*, const uint32_t*, uint32_t, int, const float*, float*);

#ifdef FUNNEL_DOT_AVX2
const bool kAvx2 = HasAvx2Fma();
const DotRowsFn kDotRows = kAvx2 ? DotRowsAvx2 : DotRowsBaseline;
const OuterFn kOuter = kAvx2 ? AddOuterProductsAvx2 : AddOuterProductsBaseline;
const GatherFn kGather = kAvx2 ? DotRowsGatherAvx2 : DotRowsGatherBaseline;
#else
const GatherFn kGather = DotRowsGatherBaseline;
const DotRowsFn kDotRows = DotRowsBaseline;
const OuterFn kOuter = AddOuterProductsBaseline;
#endif

}  // namespace

void DotRows(const float* rows, uint32_t n, int dim, const float* query, float* out) {
  kDotRows(rows, n, dim, query, out);
}

void DotRowsGather(const float* rows, const uint32_t* ids, uint32_t n, int dim, const float* query, float* out) {
  kGather(rows, ids, n, dim, query, out);
}

void AddOuterProducts(const float* x, int f, int n, float* c) { kOuter(x, f, n, c); }

const char* DotRowsIsa() { return kDotRows == DotRowsBaseline ? "baseline" : "avx2+fma"; }

}  // namespace funnel::retrieval::internal
