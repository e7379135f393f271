// Implicit-feedback matrix factorization (iALS; Hu, Koren & Volinsky 2008), each half-step
// solved with a few conjugate-gradient steps warm-started from the previous factors (Takács,
// Pilászy & Tikk 2011), so an iteration costs O(nnz·f + (users + items)·f²) instead of a
// Cholesky solve per row.
//
// Input: a user x item matrix of signed interaction strengths r (from event weights and
// values). r > 0 means preference 1 with confidence 1 + alpha·r; r < 0 (dislikes) means
// preference 0 with confidence 1 + alpha·|r|; absent entries mean preference 0, confidence 1.
//
//   IalsOptions opt;  opt.factors = 64;
//   FUNNEL_ASSIGN_OR_RETURN(IalsModel m, TrainIals(user_items, opt));
//   float score = m.user_factors.row(u).dot(m.item_factors.row(i));
//   // a user who just liked three videos gets a new vector at once, without retraining:
//   std::vector<float> v(m.factors());  FoldInUser(m, opt, items, strengths, v);
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
  int factors = 64;
  int iterations = 15;
  double regularization = 0.01;  // L2 weight on every factor row
  double alpha = 1.0;            // confidence slope
  int cg_steps = 3;              // CG steps per row per half-iteration
  int threads = 0;               // 0: every core
  uint64_t seed = 42;            // factor initialization; training is deterministic for a seed
  double init_stddev = 0.01;
};

using FactorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct IalsModel {
  FactorMatrix user_factors;  // users x factors
  FactorMatrix item_factors;  // items x factors
  Eigen::MatrixXf item_gram;  // item_factorsᵀ·item_factors, kept for fold-in
  int factors() const { return static_cast<int>(item_factors.cols()); }
};

// Fails on invalid options (factors < 1, negative regularization, ...) or an empty matrix.
StatusOr<IalsModel> TrainIals(const CsrMatrix& user_items, const IalsOptions& options);

// The user half-step of one iteration, for a user given as (item, strength) pairs, against the
// model's fixed item factors; solved exactly (Cholesky), so it is also the oracle for the CG
// path in tests. out.size() must equal model.factors(). Unknown items (>= rows) are ignored.
void FoldInUser(const IalsModel& model, const IalsOptions& options,
                std::span<const uint32_t> items, std::span<const float> strengths,
                std::span<float> out);

}  // namespace funnel::retrieval
