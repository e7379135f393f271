// EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): a closed-form
// item x item model, B = I - P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ and diag(B) = 0. Strong
// on small and medium catalogs; the fit is one dense inverse, so it is only built when the
// catalog has at most `max_items` items.
//
//   FUNNEL_ASSIGN_OR_RETURN(EaseModel m, TrainEase(user_items, {.lambda = 300}));
//   std::vector<float> scores(m.num_items());  ScoreEase(m, items, strengths, scores);
//
// Thread-safety: TrainEase is reentrant; a trained model is immutable and ScoreEase may run
// concurrently on it.
#pragma once

#include <cstdint>
#include <span>

#include <Eigen/Dense>

#include "funnel/core/status.h"
#include "funnel/retrieval/sparse_matrix.h"

namespace funnel::retrieval {

struct EaseOptions {
  double lambda = 500;          // L2 on B; tuned on validation
  uint32_t max_items = 20000;   // larger catalogs are refused (n² memory, n³ time)
  int threads = 0;              // 0: every core
  bool binarize = true;         // X holds 1 for r > 0, else 0 (EASE's usual input)
};

struct EaseModel {
  // B, items x items, zero diagonal. Row-major so that scoring, which sums the rows of the
  // user's items, reads contiguous memory.
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> weights;
  uint32_t num_items() const { return static_cast<uint32_t>(weights.rows()); }
};

// Fails when the catalog exceeds max_items (with a message naming both numbers) or on bad options.
StatusOr<EaseModel> TrainEase(const CsrMatrix& user_items, const EaseOptions& options);

// scores[j] = Σ_i x_i·B[i, j] over the user's (item, strength) pairs, with x as in training.
// Items should be distinct (as in a CSR row). scores.size() must equal model.num_items().
void ScoreEase(const EaseModel& model, const EaseOptions& options, std::span<const uint32_t> items,
               std::span<const float> strengths, std::span<float> scores);

// The entries of ScoreEase's vector at `columns` only (bit-identical to them), in
// O(history·columns) instead of O(history·num_items): scoring another source's candidates.
// A column of UINT32_MAX (an item outside the model) scores 0; out.size() == columns.size().
void ScoreEaseColumns(const EaseModel& model, const EaseOptions& options, std::span<const uint32_t> items,
                      std::span<const float> strengths, std::span<const uint32_t> columns, std::span<float> out);

}  // namespace funnel::retrieval
