// Fast scoring of a gradient boosted tree model at serving: an own evaluator for XGBoost's JSON
// models, batch-first (N rows x F features in, N scores out).
//
// Why hand-written rather than XGBoost's predict: ranking 500 candidates with 200 trees is on
// every request's critical path, and XGBoost's inplace predict pays per call for parsing a JSON
// config and an array interface and for a proxy DMatrix, then walks a general node layout (nodes
// with child pointers, a NaN test per step, categorical support). Here every tree is a complete
// binary tree of its own depth in one contiguous array, so a step down is one load, one
// comparison and an index computation; rows are scored in blocks of 64, one tree over a whole
// block at a time so the tree's nodes stay in L1, 8 rows walking down together so their chains
// of dependent loads overlap; missing values are resolved once per block (see Node). Target
// and measurement: bench/tree_eval_bench.cc, ≤ 0.5 × XGBoost's inplace predict for 500 rows x
// 200 trees of depth 6 x 30 features on one thread. tree_ensemble_test checks it against
// XGBoost's own predictions on trained models.
//
//   FUNNEL_ASSIGN_OR_RETURN(TreeEnsemble model, TreeEnsemble::FromXgboostJson(json));
//   std::vector<float> scores(rows);
//   FUNNEL_RETURN_IF_ERROR(model.Predict({features, rows, model.num_features()}, scores));
//
// Supported: gbtree models with objective binary:logistic, reg:squarederror, rank:pairwise,
// rank:ndcg (one output per row), numerical splits only. Missing values are NaN and go the way
// XGBoost sends them (each split's default_left). Categorical splits are refused with an error,
// not scored wrongly: Funnel trains its trees without them (no enable_categorical), so the
// evaluator does not implement them.
//
// Thread-safety: immutable after construction; Predict and Margins may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/ranking/xgboost_trainer.h"

namespace funnel::ranking {

class TreeEnsemble {
 public:
  // Trees deeper than this are refused: the complete layout costs 2^depth nodes per tree.
  static constexpr int kMaxDepth = 12;

  // Parses a model saved by XGBoost 1.7 as JSON (XgboostBooster::SaveJson). Fails with
  // InvalidArgument naming what is wrong on malformed JSON, a missing or inconsistent field, an
  // unsupported booster or objective, a categorical split, multi-output models, a tree deeper
  // than kMaxDepth, or a split threshold XGBoost never writes (NaN, or -inf with default left).
  static StatusOr<TreeEnsemble> FromXgboostJson(std::string_view json);

  // Raw scores: base margin plus the leaves of every tree, summed in float in tree order as
  // XGBoost does. rows.cols must equal num_features(), out.size() rows.rows.
  Status Margins(DenseMatrixView rows, std::span<float> out) const;
  // The objective's output: the logistic of the margin for binary:logistic, the margin otherwise.
  Status Predict(DenseMatrixView rows, std::span<float> out) const;

  const std::string& objective() const { return objective_; }
  size_t num_features() const { return num_features_; }
  size_t num_trees() const { return trees_.size(); }
  // base_score as the model stores it, and in margin space (logit for binary:logistic).
  float base_score() const { return base_score_; }
  float base_margin() const { return base_margin_; }

 private:
  // Rows are scored in blocks of kBlock rows, copied feature-major into a scratch of 2·F columns:
  // column f holds feature f with NaN as -inf, column F + f with NaN as +inf. A node whose
  // missing values go left reads the first, one whose go right the second, so a step is a single
  // comparison, x < threshold, with no NaN test (models where that would be wrong, a -inf
  // threshold with default left, are refused at load).
  static constexpr size_t kBlock = 64;
  struct Node {
    uint32_t column_offset;  // column · kBlock in the block's scratch
    float threshold;         // go left when x < threshold
  };
  struct Tree {
    uint32_t depth;        // 0: a single leaf
    uint32_t first_node;   // 2^depth - 1 internal nodes at nodes_[first_node...], level order
    uint32_t first_leaf;   // 2^depth leaves at leaves_[first_leaf...], left to right
  };
  friend class TreeEnsembleBuilder;

  TreeEnsemble() = default;
  void ScoreBlock(const float* rows, size_t n, size_t stride, float* scratch, float* out) const;

  std::string objective_;
  bool logistic_ = false;
  size_t num_features_ = 0;
  float base_score_ = 0;
  float base_margin_ = 0;
  std::vector<Tree> trees_;
  std::vector<Node> nodes_;    // every tree's internal nodes, one contiguous array
  std::vector<float> leaves_;  // every tree's leaves
};

}  // namespace funnel::ranking
