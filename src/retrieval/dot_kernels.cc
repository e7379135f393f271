#include "retrieval/dot_kernels.h"

#include "retrieval/half_float.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FUNNEL_DOT_AVX2 1
#endif

namespace funnel::retrieval::internal {
namespace {

// Row by row, as DotRowsGatherBaseline: the same row gives the same bits from either.
void DotRowsBaseline(const float* rows, uint32_t n, int dim, const float* query, float* out) {
  Eigen::Map<const Eigen::VectorXf> q(query, dim);
  for (uint32_t r = 0; r < n; ++r) out[r] = Eigen::Map<const Eigen::VectorXf>(rows + size_t{r} * dim, dim).dot(q);
}

void DotRowsGatherBaseline(const float* rows, const uint32_t* ids, uint32_t n, int dim, const float* query,
                           float* out) {
  Eigen::Map<const Eigen::VectorXf> q(query, dim);
  for (uint32_t i = 0; i < n; ++i) out[i] = Eigen::Map<const Eigen::VectorXf>(rows + size_t{ids[i]} * dim, dim).dot(q);
}

#ifdef FUNNEL_DOT_AVX2
// Every row's product is summed the same way wherever it is computed (four rows at a time or
// alone, in a scan or gathered by id): two accumulators over alternate blocks of 8 columns, a
// leftover block of 8 into the first, their sum, then the scalar tail. So a row's score is
// bit-identical from DotRows and DotRowsGather, and the exact index can rescore a few rows and
// get exactly the scan's scores.
[[gnu::target("avx2,fma")]] inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

[[gnu::target("avx2,fma")]] inline float DotOne(const float* y, int dim, const float* query) {
  const int vec_end = dim - dim % 8;
  __m256 a = _mm256_setzero_ps(), b = a;
  int j = 0;
  for (; j + 16 <= vec_end; j += 16) {
    a = _mm256_fmadd_ps(_mm256_loadu_ps(y + j), _mm256_loadu_ps(query + j), a);
    b = _mm256_fmadd_ps(_mm256_loadu_ps(y + j + 8), _mm256_loadu_ps(query + j + 8), b);
  }
  for (; j < vec_end; j += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(y + j), _mm256_loadu_ps(query + j), a);
  float s = HorizontalSum(_mm256_add_ps(a, b));
  for (; j < dim; ++j) s = std::fma(y[j], query[j], s);
  return s;
}

// Four rows at once, DotOne's arithmetic for each: eight independent FMA chains keep both FMA
// ports busy, each query load serves four rows, and four independent streams of loads hide
// part of the latency of rows that are not in cache.
[[gnu::target("avx2,fma")]] inline void DotFour(const float* y0, const float* y1, const float* y2, const float* y3,
                                                int dim, const float* query, float* out) {
  const int vec_end = dim - dim % 8;
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
  for (; j < vec_end; j += 8) {
    const __m256 va = _mm256_loadu_ps(query + j);
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(y0 + j), va, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(y1 + j), va, a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(y2 + j), va, a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(y3 + j), va, a3);
  }
  float s0 = HorizontalSum(_mm256_add_ps(a0, b0)), s1 = HorizontalSum(_mm256_add_ps(a1, b1));
  float s2 = HorizontalSum(_mm256_add_ps(a2, b2)), s3 = HorizontalSum(_mm256_add_ps(a3, b3));
  // Explicit fused multiply-adds: left to the compiler, contraction may differ between the two
  // functions, and so would the last bits.
  for (; j < dim; ++j) {
    s0 = std::fma(y0[j], query[j], s0);
    s1 = std::fma(y1[j], query[j], s1);
    s2 = std::fma(y2[j], query[j], s2);
    s3 = std::fma(y3[j], query[j], s3);
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

[[gnu::target("avx2,fma")]] void DotRowsAvx2(const float* rows, uint32_t n, int dim, const float* query,
                                             float* out) {
  const size_t stride = static_cast<size_t>(dim);
  uint32_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const float* y0 = rows + r * stride;
    DotFour(y0, y0 + stride, y0 + 2 * stride, y0 + 3 * stride, dim, query, out + r);
  }
  for (; r < n; ++r) out[r] = DotOne(rows + r * stride, dim, query);
}

[[gnu::target("avx2,fma")]] void DotRowsGatherAvx2(const float* rows, const uint32_t* ids, uint32_t n, int dim,
                                                   const float* query, float* out) {
  const size_t stride = static_cast<size_t>(dim);
  uint32_t r = 0;
  for (; r + 4 <= n; r += 4)
    DotFour(rows + ids[r] * stride, rows + ids[r + 1] * stride, rows + ids[r + 2] * stride, rows + ids[r + 3] * stride,
            dim, query, out + r);
  for (; r < n; ++r) out[r] = DotOne(rows + ids[r] * stride, dim, query);
}

[[gnu::target("avx2,fma,f16c")]] inline __m256 LoadHalves(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Half-precision rows: converted to float in registers (F16C), so the scan reads half the bytes
// of the float rows; it is memory-bound, so it runs in about half the time.
[[gnu::target("avx2,fma,f16c")]] void DotRowsHalfAvx2(const uint16_t* rows, uint32_t n, int dim, const float* query,
                                                      float* out) {
  const size_t stride = static_cast<size_t>(dim);
  const int vec_end = dim - dim % 8;
  uint32_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const uint16_t* y0 = rows + r * stride;
    const uint16_t* y1 = y0 + stride;
    const uint16_t* y2 = y1 + stride;
    const uint16_t* y3 = y2 + stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int j = 0;
    for (; j < vec_end; j += 8) {
      const __m256 q = _mm256_loadu_ps(query + j);
      a0 = _mm256_fmadd_ps(LoadHalves(y0 + j), q, a0);
      a1 = _mm256_fmadd_ps(LoadHalves(y1 + j), q, a1);
      a2 = _mm256_fmadd_ps(LoadHalves(y2 + j), q, a2);
      a3 = _mm256_fmadd_ps(LoadHalves(y3 + j), q, a3);
    }
    float s0 = HorizontalSum(a0), s1 = HorizontalSum(a1), s2 = HorizontalSum(a2), s3 = HorizontalSum(a3);
    for (; j < dim; ++j) {
      s0 += HalfToFloat(y0[j]) * query[j];
      s1 += HalfToFloat(y1[j]) * query[j];
      s2 += HalfToFloat(y2[j]) * query[j];
      s3 += HalfToFloat(y3[j]) * query[j];
    }
    out[r] = s0;
    out[r + 1] = s1;
    out[r + 2] = s2;
    out[r + 3] = s3;
  }
  for (; r < n; ++r) {
    const uint16_t* y = rows + r * stride;
    __m256 a = _mm256_setzero_ps();
    int j = 0;
    for (; j < vec_end; j += 8) a = _mm256_fmadd_ps(LoadHalves(y + j), _mm256_loadu_ps(query + j), a);
    float s = HorizontalSum(a);
    for (; j < dim; ++j) s += HalfToFloat(y[j]) * query[j];
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
bool HasF16c() { return HasAvx2Fma() && __builtin_cpu_supports("f16c"); }
#endif

void DotRowsHalfBaseline(const uint16_t* rows, uint32_t n, int dim, const float* query, float* out) {
  for (uint32_t r = 0; r < n; ++r) {
    float s = 0;
    for (int j = 0; j < dim; ++j) s += HalfToFloat(rows[size_t{r} * dim + j]) * query[j];
    out[r] = s;
  }
}

void AddOuterProductsBaseline(const float* x, int f, int n, float* c) {
  Eigen::Map<Eigen::MatrixXf> cm(c, f, f);
  cm.selfadjointView<Eigen::Lower>().rankUpdate(Eigen::Map<const Eigen::MatrixXf>(x, f, n));
}

using DotRowsFn = void (*)(const float*, uint32_t, int, const float*, float*);
using OuterFn = void (*)(const float*, int, int, float*);
using GatherFn = void (*)(const float*, const uint32_t*, uint32_t, int, const float*, float*);
using HalfFn = void (*)(const uint16_t*, uint32_t, int, const float*, float*);

#ifdef FUNNEL_DOT_AVX2
const bool kAvx2 = HasAvx2Fma();
const DotRowsFn kDotRows = kAvx2 ? DotRowsAvx2 : DotRowsBaseline;
const OuterFn kOuter = kAvx2 ? AddOuterProductsAvx2 : AddOuterProductsBaseline;
const GatherFn kGather = kAvx2 ? DotRowsGatherAvx2 : DotRowsGatherBaseline;
const bool kF16c = HasF16c();
const HalfFn kHalf = kF16c ? DotRowsHalfAvx2 : DotRowsHalfBaseline;
#else
const bool kF16c = false;
const HalfFn kHalf = DotRowsHalfBaseline;
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

void DotRowsHalf(const uint16_t* rows, uint32_t n, int dim, const float* query, float* out) {
  kHalf(rows, n, dim, query, out);
}

bool HalfRowsAreFast() { return kF16c; }

void AddOuterProducts(const float* x, int f, int n, float* c) { kOuter(x, f, n, c); }

const char* DotRowsIsa() { return kDotRows == DotRowsBaseline ? "baseline" : "avx2+fma"; }

}  // namespace funnel::retrieval::internal
