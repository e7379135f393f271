#include "ials_half_step.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/core/thread_pool.h"
#include "retrieval/dot_kernels.h"

namespace funnel::retrieval::internal {
namespace {

// Rows per ParallelFor chunk: small, because rows are very uneven (a popular item can hold a
// tenth of all entries) and a big last chunk would leave the other thread idle.
constexpr size_t kRowGrain = 16;

// The per-entry loops below are written by hand on 4-float vectors rather than with Eigen:
// Eigen has no dot/axpy over a gathered set of rows, and one Eigen dot per entry costs a
// horizontal sum that the following axpy must wait for (and GCC stops inlining Eigen's
// reduction once there are several per loop). GCC/Clang vector extensions lower to SSE2 on
// x86-64 (NEON on ARM) with no -m flag and no intrinsics header.
using Packet = float __attribute__((vector_size(16)));
constexpr int kLanes = 4;

inline Packet Load(const float* p) {
  Packet v;
  std::memcpy(&v, p, sizeof v);  // an unaligned load (movups): rows start anywhere when f % 4 ≠ 0
  return v;
}
inline void Store(float* p, Packet v) { std::memcpy(p, &v, sizeof v); }
inline float Sum(Packet v) { return (v[0] + v[2]) + (v[1] + v[3]); }

// {Σa0, Σa1, Σa2, Σa3}: four horizontal sums at once (a 4 x 4 transpose and adds), instead of
// four shuffle-and-add chains that end in scalars.
inline Packet Sum4(Packet a0, Packet a1, Packet a2, Packet a3) {
  using Mask = int __attribute__((vector_size(16)));
  Packet u = __builtin_shuffle(a0, a1, Mask{0, 4, 1, 5}) + __builtin_shuffle(a0, a1, Mask{2, 6, 3, 7});
  Packet w = __builtin_shuffle(a2, a3, Mask{0, 4, 1, 5}) + __builtin_shuffle(a2, a3, Mask{2, 6, 3, 7});
  return __builtin_shuffle(u, w, Mask{0, 1, 4, 5}) + __builtin_shuffle(u, w, Mask{2, 3, 6, 7});
}

// Dot products of four rows with v, two accumulators per row so that eight independent add
// chains hide the add latency.
[[gnu::always_inline]] inline Packet Dot4(const float* y0, const float* y1, const float* y2,
                                          const float* y3, const float* v, int f) {
  Packet a0{}, a1{}, a2{}, a3{}, b0{}, b1{}, b2{}, b3{};
  int j = 0;
  for (; j + 2 * kLanes <= f; j += 2 * kLanes) {
    Packet va = Load(v + j), vb = Load(v + j + kLanes);
    a0 += Load(y0 + j) * va;
    b0 += Load(y0 + j + kLanes) * vb;
    a1 += Load(y1 + j) * va;
    b1 += Load(y1 + j + kLanes) * vb;
    a2 += Load(y2 + j) * va;
    b2 += Load(y2 + j + kLanes) * vb;
    a3 += Load(y3 + j) * va;
    b3 += Load(y3 + j + kLanes) * vb;
  }
  for (; j + kLanes <= f; j += kLanes) {
    Packet va = Load(v + j);
    a0 += Load(y0 + j) * va;
    a1 += Load(y1 + j) * va;
    a2 += Load(y2 + j) * va;
    a3 += Load(y3 + j) * va;
  }
  Packet d = Sum4(a0 + b0, a1 + b1, a2 + b2, a3 + b3);
  for (; j < f; ++j) d += Packet{y0[j], y1[j], y2[j], y3[j]} * v[j];
  return d;
}

inline float Dot1(const float* y0, const float* v, int f) {
  Packet a{}, b{};
  int j = 0;
  for (; j + 2 * kLanes <= f; j += 2 * kLanes) {
    a += Load(y0 + j) * Load(v + j);
    b += Load(y0 + j + kLanes) * Load(v + j + kLanes);
  }
  for (; j + kLanes <= f; j += kLanes) a += Load(y0 + j) * Load(v + j);
  float d = Sum(a + b);
  for (; j < f; ++j) d += y0[j] * v[j];
  return d;
}

// out += t0·y0 + t1·y1 + t2·y2 + t3·y3: one load and store of out for four rows.
[[gnu::always_inline]] inline void Axpy4(const float* y0, const float* y1, const float* y2,
                                         const float* y3, Packet t, int f, float* out) {
  const float t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3];
  int j = 0;
  for (; j + kLanes <= f; j += kLanes)
    Store(out + j, Load(out + j) + ((t0 * Load(y0 + j) + t1 * Load(y1 + j)) +
                                    (t2 * Load(y2 + j) + t3 * Load(y3 + j))));
  for (; j < f; ++j) out[j] += (t0 * y0[j] + t1 * y1[j]) + (t2 * y2[j] + t3 * y3[j]);
}

inline void Axpy1(const float* y0, float t0, int f, float* out) {
  int j = 0;
  for (; j + kLanes <= f; j += kLanes) Store(out + j, Load(out + j) + t0 * Load(y0 + j));
  for (; j < f; ++j) out[j] += t0 * y0[j];
}

// Rows of the other side are read in the order of the row's entries, i.e. at random: fetch
// them a few entries ahead so a cache miss (the other side's factors often exceed L2) overlaps
// the arithmetic on the current entries.
constexpr size_t kPrefetchAhead = 8;

inline void PrefetchRow(const float* p, int f) {
  const char* c = reinterpret_cast<const char*>(p);
  const int bytes = f * static_cast<int>(sizeof(float));
  for (int off = 0; off < bytes; off += 64) __builtin_prefetch(c + off);
  __builtin_prefetch(c + bytes - 1);  // rows need not start on a cache line
}

// out += Σ_k t_k·y_k over the row's entries, with t_k = target_k − extra_k·(y_k·v) for the
// residual (kResidual) and t_k = extra_k·(y_k·v) for a product A·v. Four entries at a time: the
// four dot products are independent, so their horizontal sums overlap instead of stalling the
// axpy, and `out` is loaded and stored once per four entries; each y_k is read twice from L1.
template <bool kResidual>
void AccumulateEntries(const float* y, int f, std::span<const uint32_t> idx,
                       std::span<const float> val, float alpha, const float* v, float* out) {
  auto weight = [&](size_t k, float dot) {
    EntryWeights w = WeightsOf(val[k], alpha);
    return kResidual ? w.target - w.extra * dot : w.extra * dot;
  };
  auto row = [&](size_t k) { return y + size_t{idx[k]} * f; };
  const size_t n = idx.size();
  const Packet extra_slope = Packet{} + alpha;
  size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    const float *y0 = row(k), *y1 = row(k + 1), *y2 = row(k + 2), *y3 = row(k + 3);
    for (size_t q = k + kPrefetchAhead; q < std::min(n, k + kPrefetchAhead + 4); ++q)
      PrefetchRow(row(q), f);
    Packet dots = Dot4(y0, y1, y2, y3, v, f);
    // The weights of WeightsOf, four lanes at a time.
    Packet r = Load(val.data() + k);
    Packet extra = extra_slope * (r < 0 ? -r : r);
    Packet t = extra * dots;
    if constexpr (kResidual) t = (r > 0 ? 1 + extra : Packet{}) - t;
    Axpy4(y0, y1, y2, y3, t, f, out);
  }
  for (; k < n; ++k) {
    const float* yk = row(k);
    Axpy1(yk, weight(k, Dot1(yk, v, f)), f, out);
  }
}

// Per-worker CG vectors, allocated once per half-step, never per row.
struct CgScratch {
  Eigen::VectorXf r, p, ap;
  explicit CgScratch(int f) : r(Eigen::VectorXf::Zero(f)), p(r), ap(r) {}
};

// CG on one row's normal equations A·x = b, warm-started from x, touching only the row's entries:
// A·v = G·v + Σ extra_i·(y_i·v)·y_i with G = YᵀY + λI shared by all rows.
void CgRow(const Eigen::MatrixXf& g, const float* y, int f, std::span<const uint32_t> idx,
           std::span<const float> val, float alpha, int steps, float* x_data, CgScratch& s) {
  Eigen::Map<Eigen::VectorXf> x(x_data, f);
  s.r.noalias() = -(g * x);  // r = b − A·x
  AccumulateEntries<true>(y, f, idx, val, alpha, x_data, s.r.data());
  s.p = s.r;
  float rs = s.r.squaredNorm();
  for (int step = 0; step < steps && rs > 0; ++step) {
    s.ap.noalias() = g * s.p;
    AccumulateEntries<false>(y, f, idx, val, alpha, s.p.data(), s.ap.data());
    float pap = s.p.dot(s.ap);
    if (!(pap > 0)) break;  // p = 0 or lost to rounding: x is as good as float gets
    float a = rs / pap;
    x += a * s.p;
    if (step + 1 == steps) break;
    s.r -= a * s.ap;
    float rs_new = s.r.squaredNorm();
    s.p = s.r + (rs_new / rs) * s.p;
    rs = rs_new;
  }
}

}  // namespace

void HalfStepCg(const CsrMatrix& rows, const FactorMatrix& other, const Eigen::MatrixXf& gram,
                float alpha, int cg_steps, int threads, FactorMatrix& x) {
  FUNNEL_CHECK(rows.rows == x.rows() && rows.cols == other.rows() && x.cols() == other.cols());
  FUNNEL_CHECK(gram.rows() == x.cols() && gram.cols() == x.cols());
  const int f = static_cast<int>(x.cols());
  std::vector<CgScratch> scratch(std::max(threads, 1), CgScratch(f));
  ParallelFor(
      rows.rows, threads,
      [&](size_t begin, size_t end, int worker) {
        for (size_t u = begin; u < end; ++u) {
          float* xu = x.data() + u * f;
          auto idx = rows.RowIndices(static_cast<uint32_t>(u));
          if (idx.empty()) {
            std::fill(xu, xu + f, 0.0f);
            continue;
          }
          CgRow(gram, other.data(), f, idx, rows.RowValues(static_cast<uint32_t>(u)), alpha,
                cg_steps, xu, scratch[worker]);
        }
      },
      kRowGrain);
}

Eigen::MatrixXf Gram(const FactorMatrix& y, double lambda, int threads) {
  const Eigen::Index n = y.rows();
  const Eigen::Index f = y.cols();
  // The block size depends on n only, never on threads, so the summation order is fixed.
  const Eigen::Index block = std::max<Eigen::Index>(1024, (n + 63) / 64);
  const Eigen::Index blocks = (n + block - 1) / block;
  std::vector<Eigen::MatrixXf> parts(blocks);
  ParallelFor(
      blocks, threads,
      [&](size_t begin, size_t end, int) {
        for (size_t b = begin; b < end; ++b) {
          Eigen::Index lo = static_cast<Eigen::Index>(b) * block;
          Eigen::Index len = std::min(block, n - lo);
          parts[b] = Eigen::MatrixXf::Zero(f, f);
          parts[b].selfadjointView<Eigen::Lower>().rankUpdate(y.middleRows(lo, len).transpose());
        }
      },
      1);
  Eigen::MatrixXf lower = Eigen::MatrixXf::Zero(f, f);
  for (const auto& p : parts) lower += p;
  Eigen::MatrixXf g = lower.selfadjointView<Eigen::Lower>();
  g.diagonal().array() += static_cast<float>(lambda);
  return g;
}

void SolveRowExact(const Eigen::MatrixXd& gram_d, const FactorMatrix& other,
                   std::span<const uint32_t> indices, std::span<const float> strengths,
                   float alpha, std::span<float> out) {
  const Eigen::Index f = other.cols();
  FUNNEL_CHECK(indices.size() == strengths.size());
  FUNNEL_CHECK(static_cast<Eigen::Index>(out.size()) == f);
  FUNNEL_CHECK(gram_d.rows() == f && gram_d.cols() == f);
  // Σ (c − 1)·y·yᵀ as a rank-k update of √(c − 1)·y columns gathered in chunks, in float
  // (dot_kernels.h), each chunk's sum then added to the double system: on a 1,200-item history
  // (the request-time fold-in of heavy users) 2.4x faster than one double rank-1 update per
  // entry with Eigen's SYRK, more with the AVX2 kernel; the chunk (f x 256 floats) stays in L2.
  constexpr Eigen::Index kChunk = 256;
  Eigen::MatrixXd a = gram_d;
  Eigen::VectorXd b = Eigen::VectorXd::Zero(f);
  Eigen::MatrixXf chunk(f, kChunk);
  Eigen::MatrixXf chunk_sum(f, f);
  Eigen::Index filled = 0;
  auto flush = [&] {
    if (filled == 0) return;
    chunk_sum.setZero();
    AddOuterProducts(chunk.data(), static_cast<int>(f), static_cast<int>(filled), chunk_sum.data());
    a.triangularView<Eigen::Lower>() += chunk_sum.cast<double>();
    filled = 0;
  };
  bool any_positive = false;
  for (size_t k = 0; k < indices.size(); ++k) {
    if (indices[k] >= other.rows() || !std::isfinite(strengths[k])) continue;
    EntryWeights w = WeightsOf(strengths[k], alpha);
    auto yi = other.row(indices[k]).transpose();
    b += double{w.target} * yi.cast<double>();
    any_positive |= w.target != 0;
    if (w.extra == 0) continue;
    chunk.col(filled++) = std::sqrt(w.extra) * yi;
    if (filled == kChunk) flush();
  }
  flush();
  Eigen::Map<Eigen::VectorXf> x(out.data(), f);
  // No positive entry: b = 0, so x = 0 exactly (and no solve on a possibly singular λ = 0 gram).
  if (!any_positive) {
    x.setZero();
    return;
  }
  Eigen::LDLT<Eigen::MatrixXd, Eigen::Lower> ldlt(a);
  x = ldlt.solve(b).cast<float>();
}

void HalfStepExact(const CsrMatrix& rows, const FactorMatrix& other, const Eigen::MatrixXf& gram,
                   float alpha, int threads, FactorMatrix& x) {
  FUNNEL_CHECK(rows.rows == x.rows() && rows.cols == other.rows() && x.cols() == other.cols());
  const Eigen::Index f = x.cols();
  Eigen::MatrixXd gram_d = gram.cast<double>();
  ParallelFor(
      rows.rows, threads,
      [&](size_t begin, size_t end, int) {
        for (size_t u = begin; u < end; ++u) {
          auto r = static_cast<uint32_t>(u);
          SolveRowExact(gram_d, other, rows.RowIndices(r), rows.RowValues(r), alpha,
                        {x.data() + u * f, static_cast<size_t>(f)});
        }
      },
      kRowGrain);
}

}  // namespace funnel::retrieval::internal
