// The iALS half-step: solve every row of one side against the fixed factors of the other side.
// Internal to funnel_retrieval (and its tests): TrainIals alternates these, FoldInUser is one
// row of the exact solver.
//
// For row u with entries (i, r): minimize Σ_i c_ui·(p_ui − x·y_i)² + λ|x|² over x, i.e. solve
//   (YᵀY + λI + Σ_{i∈u} (c_ui − 1)·y_i·y_iᵀ)·x = Σ_{i∈u} c_ui·p_ui·y_i.
//
// Thread-safety: functions are reentrant; each writes only its output.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

#include <Eigen/Dense>

#include "funnel/retrieval/ials.h"
#include "funnel/retrieval/sparse_matrix.h"

namespace funnel::retrieval::internal {

// The two per-entry weights of the normal equations for a signed strength r.
struct EntryWeights {
  float extra = 0;   // c − 1 = alpha·|r|, added to the gram along y_i
  float target = 0;  // c·p = 1 + alpha·r when r > 0, else 0
};
inline EntryWeights WeightsOf(float r, float alpha) {
  float extra = alpha * std::fabs(r);
  return {extra, r > 0 ? 1.0f + extra : 0.0f};
}

// YᵀY + lambda·I. Summed over fixed row blocks in a fixed order, so the result is bit-identical
// for any thread count.
Eigen::MatrixXf Gram(const FactorMatrix& y, double lambda, int threads);

// One CG half-step: each non-empty row of x takes `cg_steps` CG steps from its current value;
// empty rows become 0 (their exact solution). gram = YᵀY + λI for y = other.
// Requires rows.rows == x.rows(), rows.cols == other.rows(), x.cols() == other.cols().
void HalfStepCg(const CsrMatrix& rows, const FactorMatrix& other, const Eigen::MatrixXf& gram,
                float alpha, int cg_steps, int threads, FactorMatrix& x);

// The exact twin: an LDLT solve per row in double (x's previous value is not used).
void HalfStepExact(const CsrMatrix& rows, const FactorMatrix& other, const Eigen::MatrixXf& gram,
                   float alpha, int threads, FactorMatrix& x);

// One row of HalfStepExact; gram_d is YᵀY + λI in double. Entries whose index is not a row of
// `other` or whose strength is not finite are skipped; with no positive entry, out = 0.
void SolveRowExact(const Eigen::MatrixXd& gram_d, const FactorMatrix& other,
                   std::span<const uint32_t> indices, std::span<const float> strengths,
                   float alpha, std::span<float> out);

}  // namespace funnel::retrieval::internal
