// Logistic regression over hashed features: the ranking stage's simple, explainable baseline,
// the floor every other ranker must beat (issue 11).
//
//   std::vector<ColumnKind> kinds = {ColumnKind::kNumeric, ColumnKind::kCategorical, ...};
//   LogisticRegressionOptions opt;
//   opt.crosses = {{1, 2}};  // user category x item category
//   FUNNEL_ASSIGN_OR_RETURN(LogisticRegression m,
//                           LogisticRegression::Train({{x, rows, cols}, kinds, labels, {}}, opt));
//   FUNNEL_ASSIGN_OR_RETURN(std::vector<float> p, m.Predict({x2, rows2, cols}));
//   std::string bytes = m.Save();  // LogisticRegression::Load(bytes) gives the same predictions
//
// Input rows are those of the tree code (DenseMatrixView: row-major floats, NaN = missing) plus a
// kind per column. Feature treatment, fixed at fit time and stored in the model so serving
// computes exactly what training saw:
// - Numeric column j: z = (x - mean_j) / std_j with mean and (population) std of the column's
//   non-missing training values, weighted by the row weights (std 1 when the column is constant or empty, so it adds
//   nothing instead of dividing by zero). Missing: z = 0, i.e. the mean, plus the column's own
//   "is missing" weight, so the model learns what missingness itself says (a missing count is
//   often not an average count). ±inf is refused: it has no standardized value.
// - Categorical column j: the value is an integer code held as a float (any integer a float
//   holds exactly; 1.5 or inf is refused with an error). Each (column, code) is one-hot in one
//   of 2^hash_bits buckets, bucket = XXH3-64 (funnel::StableHash64, stable across runs and
//   machines) of the column and code. Missing is a code of its own (its own bucket), because an
//   unknown category is information too. Hashing rather than a vocabulary: no dictionary to
//   build, store or miss at serving; a cold code simply lands in a bucket with a small weight.
// - Cross (a, b) of two categorical columns: one more one-hot feature for the pair of codes,
//   hashed the same way with a different seed. This is how the linear model learns effects that
//   exist only jointly (an XOR of user and item category), which its plain features cannot.
// - A bias. margin = bias + sum of the active weights; probability = logistic(margin).
//
// Training minimizes  sum_r w_r/mean(w) · [logloss_r + l2/2 · sum_{i active in r} theta_i^2]
// (the bias unregularized) with Adagrad SGD; see logistic_regression.cc for why this method.
// Deterministic: the same data and options give a byte-identical model (one thread, rows visited
// in a shuffle from a fixed seed with an own Fisher-Yates, not std::shuffle whose algorithm is the
// standard library's choice).
//
// Saved format (Save/Load), little-endian, version 1:
//   "FNLR" | u32 version | u32 cols | u32 hash_bits | u32 num_crosses | u8 kind x cols
//   | (u32 a, u32 b) x num_crosses | f64 mean x cols | f64 std x cols | f32 weight x cols
//   | f32 missing_weight x cols | f32 bias | u32 nnz | (u32 bucket, f32 weight) x nnz (buckets
//   increasing, only non-zero ones: most of 2^18 are never touched) | u64 XXH3-64 of all before.
// Load refuses a wrong magic, an unknown version, a checksum mismatch or a truncated buffer.
//
// Thread-safety: a model is an immutable value after Train/Load; Predict, Margins and Save may
// run concurrently. Train and Load are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/ranking/xgboost_trainer.h"  // DenseMatrixView

namespace funnel::ranking {

enum class ColumnKind : uint8_t { kNumeric = 0, kCategorical = 1 };

struct LogisticRegressionOptions {
  double l2 = 1e-4;            // >= 0, per active feature per row (see the objective above)
  int epochs = 5;              // >= 1 passes over the rows
  double learning_rate = 0.1;  // > 0, Adagrad's base step
  // 1..24: 2^hash_bits buckets for categories and crosses (training keeps two doubles per
  // bucket, so 24 bits is 256 MB: the cap keeps a typo from asking for gigabytes).
  int hash_bits = 18;
  // Pairs of categorical columns crossed into one feature each; a != b, both < cols.
  std::vector<std::pair<uint32_t, uint32_t>> crosses;
  uint64_t seed = 1;           // the row shuffle's seed
};

struct LogisticRegressionData {
  DenseMatrixView features;
  std::span<const ColumnKind> kinds;  // one per column
  std::span<const float> labels;      // one per row, in [0, 1] (soft labels allowed)
  std::span<const float> weights;     // empty, or one per row, >= 0 and not all 0
};

class LogisticRegression {
 public:
  // Fails with InvalidArgument naming the problem: sizes that disagree (values vs rows x cols,
  // kinds, labels, weights), no rows, a label outside [0, 1], a bad weight, an option out of
  // range, a cross of a numeric or out-of-range column, a non-integer categorical value, ±inf.
  static StatusOr<LogisticRegression> Train(const LogisticRegressionData& data,
                                            const LogisticRegressionOptions& options);
  // A model written by Save.
  static StatusOr<LogisticRegression> Load(std::string_view bytes);
  std::string Save() const;

  // margin = bias + active weights, per row; rows.cols must equal num_features(), out.size()
  // rows.rows. The values are checked as in Train (categorical codes integral, no ±inf).
  Status Margins(DenseMatrixView rows, std::span<float> out) const;
  // logistic(margin): the probability of a positive label.
  Status Predict(DenseMatrixView rows, std::span<float> out) const;
  StatusOr<std::vector<float>> Predict(DenseMatrixView rows) const;

  size_t num_features() const { return kinds_.size(); }
  const std::vector<ColumnKind>& kinds() const { return kinds_; }
  const std::vector<std::pair<uint32_t, uint32_t>>& crosses() const { return crosses_; }
  int hash_bits() const { return hash_bits_; }
  // For explanations and tests. Numeric columns: the weight of the standardized value, the
  // weight of "missing", and the fitted mean/std; categorical: the weight of a code's bucket
  // (shared with whatever collides into it) and of a cross's pair of codes.
  float bias() const { return bias_; }
  float numeric_weight(size_t col) const { return weight_[col]; }
  float missing_weight(size_t col) const { return missing_weight_[col]; }
  double mean(size_t col) const { return mean_[col]; }
  double stddev(size_t col) const { return std_[col]; }
  float CategoryWeight(uint32_t col, float code) const;
  float CrossWeight(uint32_t a, float code_a, uint32_t b, float code_b) const;

 private:
  LogisticRegression() = default;

  std::vector<ColumnKind> kinds_;
  std::vector<std::pair<uint32_t, uint32_t>> crosses_;
  int hash_bits_ = 0;
  std::vector<double> mean_, std_;  // per column; numeric columns only are meaningful
  std::vector<float> weight_;          // per numeric column
  std::vector<float> missing_weight_;  // per numeric column
  float bias_ = 0;
  std::vector<float> buckets_;  // 2^hash_bits weights for categories and crosses
};

}  // namespace funnel::ranking
