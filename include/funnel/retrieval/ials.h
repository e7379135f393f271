// Implicit-feedback matrix factorization (iALS; Hu, Koren & Volinsky 2008), each half-step
// solved with a few conjugate-gradient steps warm-started from the previous factors (Takács,
// Pilászy & Tikk 2011), so an iteration costs O(nnz·f + (users + items)·f²) instead of a
// Cholesky solve per row.
//
// Input: a user x item matrix of signed interaction strengths r (from event weights and
// values). r > 0 means preference 1 with confidence 1 + alpha·r; r < 0 (dislikes) means
// preference 0 with confidence 1 + alpha·|r|; absent entries mean preference 0, confidence 1.
// Training minimizes Σ_{u,i} c_ui·(p_ui − x_u·y_i)² + λ·(Σ|x_u|² + Σ|y_i|²) (IalsLoss).
//
//   IalsOptions opt;  opt.factors = 64;
//   FUNNEL_ASSIGN_OR_RETURN(IalsModel m, TrainIals(user_items, opt));
//   float score = m.user_factors.row(u).dot(m.item_factors.row(i));
//   // a user who just liked three videos gets a new vector at once, without retraining:
//   std::vector<float> v(m.factors());  FoldInUser(m, opt, items, strengths, v);
//
// Each iteration solves the items against the users, then the users against the items, so the
// trained user vectors are half-steps against the final item factors, exactly what FoldInUser
// computes for a new user. Rows without any entry (users or items never seen) get the zero
// vector. Training is deterministic for a seed and bit-identical for any thread count (on one
// build and CPU type: Eigen picks its gram blocking from the cache sizes).
//
// Thread-safety: TrainIals is reentrant; a trained model is immutable and FoldInUser may run
// concurrently on it.
#pragma once

#include <cstdint>
#include <span>

#include <Eigen/Dense>

#include "funnel/core/status.h"
#include "funnel/retrieval/sparse_matrix.h"

namespace funnel::retrieval {

struct IalsOptions {
  int factors = 64;              // 1..1024
  int iterations = 15;           // >= 1
  double regularization = 0.01;  // L2 weight on every factor row (λ, unscaled), >= 0
  double alpha = 1.0;            // confidence slope, >= 0
  int cg_steps = 3;              // CG steps per row per half-iteration, >= 1
  bool exact_solve = false;      // LDLT per row instead of CG: O(nnz·f² + rows·f³) an
                                 // iteration; the exact twin of the CG path, for tests and
                                 // for small factor counts
  int threads = 0;               // 0: every core
  uint64_t seed = 42;            // factor initialization; training is deterministic for a seed
  double init_stddev = 0.01;     // normal initial factors, >= 0
};

using FactorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct IalsModel {
  FactorMatrix user_factors;  // users x factors
  FactorMatrix item_factors;  // items x factors
  Eigen::MatrixXf item_gram;  // item_factorsᵀ·item_factors (without λ), kept for fold-in
  int factors() const { return static_cast<int>(item_factors.cols()); }
};

// Fails with InvalidArgument on invalid options (each message names the option and its valid
// range) or on a matrix that is empty, has no entry, or is malformed (inconsistent offsets,
// column out of range, non-finite value).
StatusOr<IalsModel> TrainIals(const CsrMatrix& user_items, const IalsOptions& options);

// The user half-step of one iteration, for a user given as (item, strength) pairs, against the
// model's fixed item factors; solved exactly (LDLT in double), so it is also the oracle for the
// CG path in tests. Items should be distinct (sum repeated interactions first, as
// CsrMatrix::FromTriplets does). out.size() must equal model.factors(). Unknown items (>= rows)
// and non-finite strengths are ignored; a user with no usable pair gets the zero vector.
void FoldInUser(const IalsModel& model, const IalsOptions& options,
                std::span<const uint32_t> items, std::span<const float> strengths,
                std::span<float> out);

// The training objective above for `model` on `user_items` (whose shape must match the model),
// summed in double; O(nnz·f + (users + items)·f²). For monitoring and tests.
double IalsLoss(const CsrMatrix& user_items, const IalsModel& model, const IalsOptions& options);

}  // namespace funnel::retrieval
