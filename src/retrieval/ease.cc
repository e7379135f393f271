#include "funnel/retrieval/ease.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <type_traits>

#include <Eigen/Cholesky>

#include "funnel/core/thread_pool.h"
#include "retrieval/ease_internal.h"

namespace funnel::retrieval {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

float Input(float value, bool binarize) { return binarize ? (value > 0 ? 1.0f : 0.0f) : value; }

// Columns of P solved per task: wide enough for the triangular solves to run at matrix-product
// speed, narrow enough that two threads stay balanced.
constexpr uint32_t kSolveBlock = 128;
// Side of the tiles in which P's lower triangle is turned into B (keeps the transposed
// accesses in cache).
constexpr uint32_t kTile = 64;

// When too_ill_conditioned is given, sets it (and returns without a model) if the factor
// fails or its condition estimate exceeds kFloatConditionLimit.
template <typename Scalar>
Status Fit(const CsrMatrix& x, const EaseOptions& options, int threads, EaseModel* model, EaseFitTimes* times,
           bool* too_ill_conditioned) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const uint32_t n = x.cols;
  auto start = Clock::now();

  // Lower triangle of G = XᵀX, one column per task: column i gathers, over the users of item i,
  // their items j >= i. Each column is a contiguous buffer only its task writes.
  CsrMatrix xt = x.Transposed();
  Matrix g = Matrix::Zero(n, n);
  ParallelFor(
      n, threads,
      [&](size_t begin, size_t end, int) {
        for (size_t i = begin; i < end; ++i) {
          Scalar* column = g.col(static_cast<Eigen::Index>(i)).data();
          for (uint64_t e = xt.offsets[i]; e < xt.offsets[i + 1]; ++e) {
            Scalar xi = Input(xt.values[e], options.binarize);
            if (xi == 0) continue;
            auto items = x.RowIndices(xt.indices[e]);
            auto values = x.RowValues(xt.indices[e]);
            size_t from = std::lower_bound(items.begin(), items.end(), static_cast<uint32_t>(i)) - items.begin();
            for (size_t p = from; p < items.size(); ++p)
              column[items[p]] += xi * static_cast<Scalar>(Input(values[p], options.binarize));
          }
        }
      },
      /*grain=*/16);
  g.diagonal().array() += static_cast<Scalar>(options.lambda);
  if (times) times->gram_seconds = SecondsSince(start);

  start = Clock::now();
  Eigen::LLT<Eigen::Ref<Matrix>, Eigen::Lower> llt(g);  // in place: g's lower triangle becomes L
  if (llt.info() != Eigen::Success && too_ill_conditioned) {
    *too_ill_conditioned = true;  // rounding may have broken positive definiteness: retry in double
    return absl::OkStatus();
  }
  if (llt.info() != Eigen::Success)
    return absl::InvalidArgumentError(Cat("EASE: XᵀX + λI is not positive definite (lambda = ", options.lambda,
                                          " too small for ", n, " items?)"));
  const double ratio = double(g.diagonal().maxCoeff()) / double(g.diagonal().minCoeff());
  if (times) {
    times->factor_seconds = SecondsSince(start);
    times->condition_estimate = ratio * ratio;
    times->used_double = std::is_same_v<Scalar, double>;
  }
  if (too_ill_conditioned) {
    *too_ill_conditioned = ratio * ratio > kFloatConditionLimit;
    if (*too_ill_conditioned) return absl::OkStatus();
  }

  // P = (LLᵀ)⁻¹, lower triangle only, written (as float) straight into B's storage. The rows of
  // P's columns [c0, c1) at or below c0 depend only on L's trailing block L[c0:, c0:], and the
  // identity's columns are zero above c0, so each block solves in that trailing block: 2n³/3
  // flops in all (with the factor's n³/3, LAPACK potrf + potri's count) rather than the 2n³ of
  // solving against a dense I, and the blocks are independent, so they run on every thread
  // without OpenMP.
  start = Clock::now();
  model->weights.resize(n, n);
  auto& b = model->weights;
  const uint32_t blocks = (n + kSolveBlock - 1) / kSolveBlock;
  ParallelFor(
      blocks, threads,
      [&](size_t begin, size_t end, int) {
        for (size_t blk = begin; blk < end; ++blk) {
          const Eigen::Index c0 = static_cast<Eigen::Index>(blk * kSolveBlock);
          const Eigen::Index w = std::min<Eigen::Index>(kSolveBlock, n - c0);
          const Eigen::Index m = n - c0;
          Matrix y = Matrix::Zero(m, w);
          y.topRows(w).setIdentity();
          auto l22 = g.bottomRightCorner(m, m).template triangularView<Eigen::Lower>();
          l22.solveInPlace(y);
          l22.adjoint().solveInPlace(y);
          for (Eigen::Index i = 0; i < m; ++i) {
            float* row = b.row(c0 + i).data() + c0;
            for (Eigen::Index j = 0; j <= std::min(i, w - 1); ++j) row[j] = static_cast<float>(y(i, j));
          }
        }
      },
      /*grain=*/1);

  // B = I - P·diag(1/diag(P)): B[i,j] = -P[i,j] / P[j,j] off the diagonal, 0 on it. Each
  // stored P[i,j] (i > j) yields B[i,j] and B[j,i]; a task owns the rows of one tile band
  // (writes below the diagonal) and the same columns above it, so tasks never share a write.
  Eigen::VectorXf diag = b.diagonal();
  const uint32_t bands = (n + kTile - 1) / kTile;
  ParallelFor(
      bands, threads,
      [&](size_t begin, size_t end, int) {
        for (size_t band = begin; band < end; ++band) {
          const uint32_t i0 = static_cast<uint32_t>(band * kTile), i1 = std::min(n, i0 + kTile);
          for (uint32_t j0 = 0; j0 <= i0; j0 += kTile) {
            const uint32_t j1 = std::min(n, j0 + kTile);
            for (uint32_t i = i0; i < i1; ++i)
              for (uint32_t j = j0; j < std::min(j1, i); ++j) {
                float p = b(i, j);
                b(i, j) = -p / diag[j];
                b(j, i) = -p / diag[i];
              }
          }
          for (uint32_t i = i0; i < i1; ++i) b(i, i) = 0;
        }
      },
      /*grain=*/1);
  if (times) times->inverse_seconds = SecondsSince(start);
  return absl::OkStatus();
}

}  // namespace

StatusOr<EaseModel> TrainEaseWith(const CsrMatrix& user_items, const EaseOptions& options, EasePrecision precision,
                                  EaseFitTimes* times) {
  if (!(options.lambda > 0) || !std::isfinite(options.lambda))
    return absl::InvalidArgumentError(Cat("EASE: lambda must be a positive number, got ", options.lambda));
  const uint32_t n = user_items.cols;
  if (n > options.max_items)
    return absl::InvalidArgumentError(
        Cat("EASE: the catalog has ", n, " items, above max_items = ", options.max_items,
            " (the fit inverts a dense items x items matrix: n² memory, n³ time); raise max_items or use iALS"));
  FUNNEL_CHECK(user_items.offsets.size() == size_t{user_items.rows} + 1);
  int threads = options.threads > 0 ? options.threads : HardwareThreads();
  EaseModel model;
  if (n == 0) return model;
  if (precision == EasePrecision::kDouble) {
    FUNNEL_RETURN_IF_ERROR(Fit<double>(user_items, options, threads, &model, times, nullptr));
    return model;
  }
  bool too_ill_conditioned = false;
  FUNNEL_RETURN_IF_ERROR(Fit<float>(user_items, options, threads, &model, times,
                                    precision == EasePrecision::kAuto ? &too_ill_conditioned : nullptr));
  if (too_ill_conditioned) FUNNEL_RETURN_IF_ERROR(Fit<double>(user_items, options, threads, &model, times, nullptr));
  return model;
}

// Float first: on interaction matrices like MovieLens-1M's and at λ = 500 the float fit's B is
// within 7e-6 (relative to max |B|) of the double one and twice as fast at 10k items
// (bench/ease_bench.cc); ill-conditioned inputs (small λ, heavy items) fall back to double.
StatusOr<EaseModel> TrainEase(const CsrMatrix& user_items, const EaseOptions& options) {
  return TrainEaseWith(user_items, options, EasePrecision::kAuto, nullptr);
}

void ScoreEase(const EaseModel& model, const EaseOptions& options, std::span<const uint32_t> items,
               std::span<const float> strengths, std::span<float> scores) {
  const uint32_t n = model.num_items();
  FUNNEL_CHECK(scores.size() == n);
  FUNNEL_CHECK(items.size() == strengths.size());
  Eigen::Map<Eigen::VectorXf> out(scores.data(), n);
  out.setZero();
  for (size_t h = 0; h < items.size(); ++h) {
    FUNNEL_CHECK(items[h] < n);
    float x = Input(strengths[h], options.binarize);
    if (x != 0) out += x * model.weights.row(items[h]).transpose();
  }
}

void ScoreEaseColumns(const EaseModel& model, const EaseOptions& options, std::span<const uint32_t> items,
                      std::span<const float> strengths, std::span<const uint32_t> columns, std::span<float> out) {
  const uint32_t n = model.num_items();
  FUNNEL_CHECK(items.size() == strengths.size());
  FUNNEL_CHECK(out.size() == columns.size());
  for (size_t j = 0; j < columns.size(); ++j) {
    FUNNEL_CHECK(columns[j] < n || columns[j] == UINT32_MAX);
    out[j] = 0.0f;
  }
  // History item by history item, as ScoreEase adds rows, so each entry's sum has the same
  // terms in the same order.
  for (size_t h = 0; h < items.size(); ++h) {
    FUNNEL_CHECK(items[h] < n);
    const float x = Input(strengths[h], options.binarize);
    if (x == 0) continue;
    const float* row = model.weights.row(items[h]).data();
    for (size_t j = 0; j < columns.size(); ++j)
      if (columns[j] != UINT32_MAX) out[j] += x * row[columns[j]];
  }
}

}  // namespace funnel::retrieval
