// iALS training: alternating half-steps (items, then users), each row solved by a few steps of
// conjugate gradient.
//
// Why CG. An exact ALS half-step builds and factors an f x f system per row: N·f²/2 + R·f³/6
// multiply-adds for R rows holding N entries. CG needs only products A·v, and
// A = YᵀY + λI + Σ_{i∈row} (c_i − 1)·y_i·y_iᵀ applies to v as one f x f gemv with the shared
// gram (YᵀY computed once per half-step) plus a dot and an axpy per entry of the row. A few
// steps warm-started from the previous iteration's factors rank about as well as exact solves
// (Takács, Pilászy & Tikk 2011; ials_trainer_test compares both), and the loss still never
// increases: each CG step minimizes the row's quadratic over a space that holds its start.
//
// Cost model, multiply-adds per half-step over R rows with N entries, s = cg_steps:
//   (s + 1)·(R·f² + 2·N·f)   the residual and s steps: a gemv per row, a dot + axpy per entry
//   + M·f²/2                 the gram of the other side's M rows (one SYRK)
// Both sides of an iteration at f = 64, s = 3 on 56k x 10.7k with 4.5 M entries: 5.7·10⁹,
// against 21·10⁹ for exact solves. The per-entry work reads the other side's rows in the
// row's order, i.e. at random, so the kernels prefetch ahead and the factor matrices ask for
// huge pages. Rows are independent: the half-step splits them over threads with no
// synchronization beyond ParallelFor's join, and no result depends on the thread count.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "funnel/core/thread_pool.h"
#include "funnel/retrieval/ials.h"
#include "ials_half_step.h"

namespace funnel::retrieval {
namespace {

constexpr int kMaxFactors = 1024;

// splitmix64 and Box-Muller written out (rather than std::mt19937 + std::normal_distribution)
// because the standard distributions are implementation-defined: a seed must give the same
// model with any standard library.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t Next() { return Mix64(state_ += 0x9E3779B97F4A7C15ULL); }
  // Uniform in (0, 1]: never 0, so log() in Box-Muller is finite.
  double UniformOpenClosed() { return static_cast<double>((Next() >> 11) + 1) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// Fills each row from its own stream, keyed by (seed, side, row), so rows can be filled in
// parallel and the result does not depend on the thread count.
void InitFactors(uint64_t seed, uint64_t side, double stddev, int threads, FactorMatrix& m) {
  const Eigen::Index f = m.cols();
  const uint64_t side_key = Mix64(seed ^ Mix64(side + 1));
  ParallelFor(
      m.rows(), threads,
      [&](size_t begin, size_t end, int) {
        for (size_t r = begin; r < end; ++r) {
          SplitMix64 rng(side_key ^ Mix64(r));
          float* row = m.data() + r * f;
          for (Eigen::Index j = 0; j < f; j += 2) {
            double radius = std::sqrt(-2.0 * std::log(rng.UniformOpenClosed()));
            double angle = 2.0 * std::numbers::pi * rng.UniformOpenClosed();
            row[j] = static_cast<float>(stddev * radius * std::cos(angle));
            if (j + 1 < f) row[j + 1] = static_cast<float>(stddev * radius * std::sin(angle));
          }
        }
      },
      1024);
}

// Asks Linux for transparent huge pages under a factor matrix before it is first touched. The
// half-steps read the other side's rows at random; at 56k users x 64 factors that is 14 MB, 3.5k
// 4 KB pages, more than the TLB holds, so with small pages most row reads also miss the TLB.
void AdviseHugePages(FactorMatrix& m) {
#ifdef __linux__
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  auto begin = reinterpret_cast<uintptr_t>(m.data());
  uintptr_t end = begin + static_cast<uintptr_t>(m.size()) * sizeof(float);
  begin = (begin + kHuge - 1) & ~(kHuge - 1);
  end &= ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // a hint
#else
  (void)m;
#endif
}

Status ValidateOptions(const IalsOptions& o) {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(Cat("iALS: ", parts...)); };
  if (o.factors < 1 || o.factors > kMaxFactors)
    return bad("factors must be in [1, ", kMaxFactors, "], got ", o.factors);
  if (o.iterations < 1) return bad("iterations must be >= 1, got ", o.iterations);
  if (!(std::isfinite(o.regularization) && o.regularization >= 0))
    return bad("regularization must be finite and >= 0, got ", o.regularization);
  if (!(std::isfinite(o.alpha) && o.alpha >= 0))
    return bad("alpha must be finite and >= 0, got ", o.alpha);
  if (!o.exact_solve && o.cg_steps < 1) return bad("cg_steps must be >= 1, got ", o.cg_steps);
  if (o.threads < 0) return bad("threads must be >= 0 (0: every core), got ", o.threads);
  if (!(std::isfinite(o.init_stddev) && o.init_stddev >= 0))
    return bad("init_stddev must be finite and >= 0, got ", o.init_stddev);
  return absl::OkStatus();
}

Status ValidateMatrix(const CsrMatrix& m) {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(Cat("iALS: ", parts...)); };
  if (m.rows == 0 || m.cols == 0)
    return bad("the user x item matrix is empty (", m.rows, " x ", m.cols, ")");
  if (m.offsets.size() != size_t{m.rows} + 1 || m.offsets.front() != 0 ||
      m.offsets.back() != m.indices.size() || m.values.size() != m.indices.size())
    return bad("malformed CSR matrix: ", m.offsets.size(), " offsets for ", m.rows, " rows, ",
               m.indices.size(), " indices, ", m.values.size(), " values");
  if (m.nnz() == 0) return bad("the user x item matrix has no entry to learn from");
  for (uint32_t r = 0; r < m.rows; ++r) {
    if (m.offsets[r] > m.offsets[r + 1])
      return bad("malformed CSR matrix: offsets decrease at row ", r);
  }
  for (uint64_t j = 0; j < m.nnz(); ++j) {
    if (m.indices[j] >= m.cols)
      return bad("malformed CSR matrix: column ", m.indices[j], " out of range (", m.cols,
                 " columns)");
    if (!std::isfinite(m.values[j])) return bad("non-finite strength at entry ", j);
  }
  return absl::OkStatus();
}

int ThreadsOf(const IalsOptions& o) { return o.threads == 0 ? HardwareThreads() : o.threads; }

}  // namespace

StatusOr<IalsModel> TrainIals(const CsrMatrix& user_items, const IalsOptions& options) {
  FUNNEL_RETURN_IF_ERROR(ValidateOptions(options));
  FUNNEL_RETURN_IF_ERROR(ValidateMatrix(user_items));
  const int threads = ThreadsOf(options);
  const auto alpha = static_cast<float>(options.alpha);
  const CsrMatrix item_users = user_items.Transposed();

  IalsModel m;
  m.user_factors.resize(user_items.rows, options.factors);
  m.item_factors.resize(user_items.cols, options.factors);
  AdviseHugePages(m.user_factors);
  AdviseHugePages(m.item_factors);
  InitFactors(options.seed, 0, options.init_stddev, threads, m.user_factors);
  InitFactors(options.seed, 1, options.init_stddev, threads, m.item_factors);

  auto half_step = [&](const CsrMatrix& rows, const FactorMatrix& other, FactorMatrix& x) {
    Eigen::MatrixXf gram = internal::Gram(other, options.regularization, threads);
    if (options.exact_solve)
      internal::HalfStepExact(rows, other, gram, alpha, threads, x);
    else
      internal::HalfStepCg(rows, other, gram, alpha, options.cg_steps, threads, x);
  };
  // Items first, users last: the final user vectors are then half-steps against the final item
  // factors, the same footing FoldInUser gives a new user at request time.
  for (int it = 0; it < options.iterations; ++it) {
    half_step(item_users, m.user_factors, m.item_factors);
    half_step(user_items, m.item_factors, m.user_factors);
  }
  m.item_gram = internal::Gram(m.item_factors, 0.0, threads);
  return m;
}

void FoldInUser(const IalsModel& model, const IalsOptions& options,
                std::span<const uint32_t> items, std::span<const float> strengths,
                std::span<float> out) {
  FUNNEL_CHECK(static_cast<int>(out.size()) == model.factors());
  FUNNEL_CHECK(items.size() == strengths.size());
  Eigen::MatrixXd gram = model.item_gram.cast<double>();
  gram.diagonal().array() += options.regularization;
  internal::SolveRowExact(gram, model.item_factors, items, strengths,
                          static_cast<float>(options.alpha), out);
}

double IalsLoss(const CsrMatrix& user_items, const IalsModel& model, const IalsOptions& options) {
  FUNNEL_CHECK(user_items.rows == model.user_factors.rows());
  FUNNEL_CHECK(user_items.cols == model.item_factors.rows());
  FUNNEL_CHECK(model.user_factors.cols() == model.item_factors.cols());
  const int threads = ThreadsOf(options);
  const auto alpha = static_cast<float>(options.alpha);
  // Every (u, i) pair as if absent, Σ_u x_uᵀ·YᵀY·x_u, then each entry's correction
  // c·(p − s)² − s² with s = x_u·y_i.
  const Eigen::MatrixXd items = model.item_factors.cast<double>();
  const Eigen::MatrixXd gram = items.transpose() * items;
  std::vector<double> per_user(user_items.rows);
  ParallelFor(user_items.rows, threads, [&](size_t begin, size_t end, int) {
    for (size_t u = begin; u < end; ++u) {
      Eigen::VectorXd x = model.user_factors.row(u).transpose().cast<double>();
      double loss = x.dot(gram * x);
      auto idx = user_items.RowIndices(static_cast<uint32_t>(u));
      auto val = user_items.RowValues(static_cast<uint32_t>(u));
      for (size_t k = 0; k < idx.size(); ++k) {
        double s = model.item_factors.row(idx[k]).cast<double>().dot(x);
        internal::EntryWeights w = internal::WeightsOf(val[k], alpha);
        double c = 1.0 + w.extra;
        double p = w.target != 0 ? 1.0 : 0.0;
        loss += c * (p - s) * (p - s) - s * s;
      }
      per_user[u] = loss;
    }
  });
  double loss = 0;
  for (double l : per_user) loss += l;
  loss += options.regularization * (model.user_factors.cast<double>().squaredNorm() +
                                    model.item_factors.cast<double>().squaredNorm());
  return loss;
}

}  // namespace funnel::retrieval
