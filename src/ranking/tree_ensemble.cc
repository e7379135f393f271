// The JSON model schema read here is XGBoost 1.7's (doc/model.schema in XGBoost's source): under
// learner, gradient_booster.model.trees[] with per-node arrays left_children, right_children
// (-1 at leaves), split_indices, split_conditions (the leaf value at leaves), default_left,
// split_type (0 numerical, 1 categorical), and learner_model_param.base_score as a string in the
// objective's output space (a probability for binary:logistic).
#include "funnel/ranking/tree_ensemble.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <type_traits>

namespace funnel::ranking {
namespace {

Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(Cat("xgboost json model: ", what));
}

constexpr std::string_view kObjectives[] = {"binary:logistic", "reg:squarederror", "rank:pairwise",
                                            "rank:ndcg"};

// XGBoost stores parameters as strings ("5E-1"); dmlc parses them as float.
Status ParseFloatParam(simdjson::dom::element parent, const char* key, float& out) {
  std::string_view text;
  if (parent[key].get(text) != simdjson::SUCCESS) return Malformed(Cat("missing string ", key));
  std::string copy(text);
  char* end = nullptr;
  out = std::strtof(copy.c_str(), &end);
  if (end == copy.c_str() || *end != '\0') return Malformed(Cat(key, " '", text, "' is not a number"));
  return absl::OkStatus();
}

Status ParseIntParam(simdjson::dom::element parent, const char* key, int64_t& out) {
  std::string_view text;
  if (parent[key].get(text) != simdjson::SUCCESS) return Malformed(Cat("missing string ", key));
  std::string copy(text);
  char* end = nullptr;
  out = std::strtoll(copy.c_str(), &end, 10);
  if (end == copy.c_str() || *end != '\0') return Malformed(Cat(key, " '", text, "' is not an integer"));
  return absl::OkStatus();
}

// One tree's per-node arrays, as parsed.
struct JsonTree {
  std::vector<int64_t> left, right, feature;
  std::vector<float> condition;
  std::vector<uint8_t> default_left;
};

template <typename T>
Status ReadArray(simdjson::dom::element tree, const char* key, size_t tree_id, std::vector<T>& out) {
  simdjson::dom::array array;
  if (tree[key].get(array) != simdjson::SUCCESS)
    return Malformed(Cat("tree ", tree_id, ": missing array ", key));
  out.clear();
  out.reserve(array.size());
  for (simdjson::dom::element e : array) {
    if constexpr (std::is_same_v<T, float>) {
      double v = 0;
      if (e.get(v) != simdjson::SUCCESS) return Malformed(Cat("tree ", tree_id, ": ", key, " holds a non-number"));
      out.push_back(static_cast<float>(v));
    } else if constexpr (std::is_same_v<T, uint8_t>) {
      // 1.7 writes default_left as 0/1, older versions as booleans.
      bool b = false;
      int64_t i = 0;
      if (e.get(b) == simdjson::SUCCESS) out.push_back(b ? 1 : 0);
      else if (e.get(i) == simdjson::SUCCESS) out.push_back(i != 0 ? 1 : 0);
      else return Malformed(Cat("tree ", tree_id, ": ", key, " holds a non-boolean"));
    } else {
      int64_t v = 0;
      if (e.get(v) != simdjson::SUCCESS) return Malformed(Cat("tree ", tree_id, ": ", key, " holds a non-integer"));
      out.push_back(v);
    }
  }
  return absl::OkStatus();
}

}  // namespace

class TreeEnsembleBuilder {
 public:
  static StatusOr<TreeEnsemble> Build(std::string_view json);

 private:
  static Status AddTree(TreeEnsemble& model, simdjson::dom::element tree, size_t tree_id);
  static Status Depth(const JsonTree& t, size_t tree_id, int64_t node, int level, int& depth);
  static void Place(TreeEnsemble& model, const JsonTree& t, const TreeEnsemble::Tree& layout,
                    int64_t node, uint32_t pos, uint32_t level);
};

StatusOr<TreeEnsemble> TreeEnsembleBuilder::Build(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root); error != simdjson::SUCCESS)
    return Malformed(Cat("not JSON (", simdjson::error_message(error), ")"));
  simdjson::dom::element learner;
  if (root["learner"].get(learner) != simdjson::SUCCESS) return Malformed("no learner object");

  TreeEnsemble model;
  std::string_view objective;
  if (learner["objective"]["name"].get(objective) != simdjson::SUCCESS) return Malformed("no objective.name");
  if (std::find(std::begin(kObjectives), std::end(kObjectives), objective) == std::end(kObjectives))
    return absl::InvalidArgumentError(
        Cat("xgboost json model: unsupported objective '", objective,
            "'; supported: binary:logistic, reg:squarederror, rank:pairwise, rank:ndcg"));
  model.objective_ = std::string(objective);
  model.logistic_ = objective == "binary:logistic";

  simdjson::dom::element param;
  if (learner["learner_model_param"].get(param) != simdjson::SUCCESS)
    return Malformed("no learner_model_param");
  int64_t num_feature = 0, num_class = 0, num_target = 1;
  FUNNEL_RETURN_IF_ERROR(ParseIntParam(param, "num_feature", num_feature));
  FUNNEL_RETURN_IF_ERROR(ParseIntParam(param, "num_class", num_class));
  if (param["num_target"].error() == simdjson::SUCCESS)
    FUNNEL_RETURN_IF_ERROR(ParseIntParam(param, "num_target", num_target));
  if (num_feature < 1 || num_feature > (int64_t{1} << 30))
    return Malformed(Cat("num_feature ", num_feature, " out of range"));
  if (num_class > 1 || num_target != 1)
    return Malformed(Cat("multi-output models (num_class ", num_class, ", num_target ", num_target,
                         ") are not supported"));
  model.num_features_ = static_cast<size_t>(num_feature);
  FUNNEL_RETURN_IF_ERROR(ParseFloatParam(param, "base_score", model.base_score_));
  // XGBoost 1.7 keeps base_score in output space and adds ProbToMargin(base_score) to every
  // margin; for the logistic that is the logit, computed in float as XGBoost does
  // (RegLossObj::ProbToMargin), so margins agree to the bit.
  if (model.logistic_) {
    if (!(model.base_score_ > 0.0f && model.base_score_ < 1.0f))
      return Malformed(Cat("base_score ", model.base_score_, " must be in (0, 1) for binary:logistic"));
    model.base_margin_ = -std::log(1.0f / model.base_score_ - 1.0f);
  } else {
    model.base_margin_ = model.base_score_;
  }

  simdjson::dom::array feature_types;
  if (learner["feature_types"].get(feature_types) == simdjson::SUCCESS) {
    for (simdjson::dom::element t : feature_types) {
      std::string_view type;
      if (t.get(type) == simdjson::SUCCESS && type == "c")
        return Malformed("categorical features are not supported (Funnel's models use numerical splits only)");
    }
  }

  simdjson::dom::element booster;
  if (learner["gradient_booster"].get(booster) != simdjson::SUCCESS) return Malformed("no gradient_booster");
  std::string_view booster_name;
  if (booster["name"].get(booster_name) != simdjson::SUCCESS) return Malformed("no gradient_booster.name");
  if (booster_name != "gbtree")
    return Malformed(Cat("booster '", booster_name, "' is not supported; supported: gbtree"));
  simdjson::dom::array trees, tree_info;
  if (booster["model"]["trees"].get(trees) != simdjson::SUCCESS) return Malformed("no gradient_booster.model.trees");
  if (booster["model"]["tree_info"].get(tree_info) == simdjson::SUCCESS) {
    for (simdjson::dom::element g : tree_info) {
      int64_t group = 0;
      if (g.get(group) != simdjson::SUCCESS || group != 0)
        return Malformed("tree_info assigns trees to more than one output");
    }
  }
  size_t tree_id = 0;
  for (simdjson::dom::element tree : trees) FUNNEL_RETURN_IF_ERROR(AddTree(model, tree, tree_id++));
  return model;
}

Status TreeEnsembleBuilder::Depth(const JsonTree& t, size_t tree_id, int64_t node, int level, int& depth) {
  if (level > TreeEnsemble::kMaxDepth)
    return Malformed(Cat("tree ", tree_id, " is deeper than ", TreeEnsemble::kMaxDepth,
                         ", the most the evaluator supports (or its child links form a cycle)"));
  depth = std::max(depth, level);
  const int64_t n = static_cast<int64_t>(t.left.size());
  const int64_t l = t.left[node], r = t.right[node];
  if (l == -1 && r == -1) return absl::OkStatus();
  if (l <= 0 || r <= 0 || l >= n || r >= n || l == r)
    return Malformed(Cat("tree ", tree_id, " node ", node, ": children ", l, ", ", r, " out of range"));
  if (t.feature[node] < 0 || t.feature[node] >= static_cast<int64_t>(std::numeric_limits<int32_t>::max()))
    return Malformed(Cat("tree ", tree_id, " node ", node, ": split index ", t.feature[node], " out of range"));
  FUNNEL_RETURN_IF_ERROR(Depth(t, tree_id, l, level + 1, depth));
  return Depth(t, tree_id, r, level + 1, depth);
}

// Writes the subtree at `node` to complete-tree position `pos`. A leaf above the bottom level
// becomes a node above copies of itself, so every row that reaches it ends on a leaf with its
// value after exactly `depth` steps.
void TreeEnsembleBuilder::Place(TreeEnsemble& model, const JsonTree& t, const TreeEnsemble::Tree& layout,
                                int64_t node, uint32_t pos, uint32_t level) {
  const uint32_t internal = (1u << layout.depth) - 1;
  if (level == layout.depth) {
    model.leaves_[layout.first_leaf + (pos - internal)] = t.condition[node];
    return;
  }
  TreeEnsemble::Node& out = model.nodes_[layout.first_node + pos];
  const bool leaf = t.left[node] == -1;
  if (leaf) {
    // Every leaf below holds this leaf's value, so the direction does not matter.
    out = {0, 0.0f};
    Place(model, t, layout, node, 2 * pos + 1, level + 1);
    Place(model, t, layout, node, 2 * pos + 2, level + 1);
  } else {
    const size_t column = static_cast<size_t>(t.feature[node]) + (t.default_left[node] ? 0 : model.num_features_);
    out = {static_cast<uint32_t>(column * TreeEnsemble::kBlock), t.condition[node]};
    Place(model, t, layout, t.left[node], 2 * pos + 1, level + 1);
    Place(model, t, layout, t.right[node], 2 * pos + 2, level + 1);
  }
}

Status TreeEnsembleBuilder::AddTree(TreeEnsemble& model, simdjson::dom::element tree, size_t tree_id) {
  JsonTree t;
  FUNNEL_RETURN_IF_ERROR(ReadArray(tree, "left_children", tree_id, t.left));
  FUNNEL_RETURN_IF_ERROR(ReadArray(tree, "right_children", tree_id, t.right));
  FUNNEL_RETURN_IF_ERROR(ReadArray(tree, "split_indices", tree_id, t.feature));
  FUNNEL_RETURN_IF_ERROR(ReadArray(tree, "split_conditions", tree_id, t.condition));
  FUNNEL_RETURN_IF_ERROR(ReadArray(tree, "default_left", tree_id, t.default_left));
  const size_t n = t.left.size();
  if (n == 0) return Malformed(Cat("tree ", tree_id, " has no nodes"));
  if (t.right.size() != n || t.feature.size() != n || t.condition.size() != n || t.default_left.size() != n)
    return Malformed(Cat("tree ", tree_id, ": per-node arrays differ in length"));
  std::vector<int64_t> split_type;
  if (tree["split_type"].error() == simdjson::SUCCESS) {
    FUNNEL_RETURN_IF_ERROR(ReadArray(tree, "split_type", tree_id, split_type));
    if (split_type.size() != n) return Malformed(Cat("tree ", tree_id, ": per-node arrays differ in length"));
    for (size_t i = 0; i < n; ++i)
      if (split_type[i] != 0 && t.left[i] != -1)
        return Malformed(Cat("tree ", tree_id, " node ", i,
                             " is a categorical split; Funnel's evaluator supports numerical splits only"));
  }
  int depth = 0;
  FUNNEL_RETURN_IF_ERROR(Depth(t, tree_id, 0, 0, depth));
  for (size_t i = 0; i < n; ++i) {
    if (t.left[i] == -1) continue;
    if (t.feature[i] >= static_cast<int64_t>(model.num_features_))
      return Malformed(Cat("tree ", tree_id, " node ", i, " splits on feature ", t.feature[i], " of ",
                           model.num_features_));
    // XGBoost never writes these; the scratch encoding of NaN (see the header) could not honour them.
    if (std::isnan(t.condition[i]) || (t.condition[i] == -std::numeric_limits<float>::infinity() && t.default_left[i]))
      return Malformed(Cat("tree ", tree_id, " node ", i, ": split threshold ", t.condition[i], " is not supported"));
  }
  if ((2 * model.num_features_ + 1) * TreeEnsemble::kBlock > std::numeric_limits<uint32_t>::max())
    return Malformed(Cat("num_feature ", model.num_features_, " is too large"));
  TreeEnsemble::Tree layout{static_cast<uint32_t>(depth), static_cast<uint32_t>(model.nodes_.size()),
                            static_cast<uint32_t>(model.leaves_.size())};
  model.nodes_.resize(model.nodes_.size() + (size_t{1} << depth) - 1);
  model.leaves_.resize(model.leaves_.size() + (size_t{1} << depth));
  Place(model, t, layout, 0, 0, 0);
  model.trees_.push_back(layout);
  return absl::OkStatus();
}

StatusOr<TreeEnsemble> TreeEnsemble::FromXgboostJson(std::string_view json) {
  return TreeEnsembleBuilder::Build(json);
}

// Tree by tree over the block, so the tree's nodes stay in L1 across the block's rows; within a
// tree, kLanes rows walk down together, each lane's position in a register, so the core overlaps
// the lanes' chains of dependent loads (node, then feature) instead of waiting on one.
void TreeEnsemble::ScoreBlock(const float* rows, size_t n, size_t stride, float* scratch, float* out) const {
  constexpr size_t kLanes = 8;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const size_t f_count = num_features_;
  const size_t padded = (n + kLanes - 1) / kLanes * kLanes;  // rows past n score zeros, unread
  for (size_t r = 0; r < padded; ++r) {
    const float* row = r < n ? rows + r * stride : nullptr;
    for (size_t f = 0; f < f_count; ++f) {
      const float x = row != nullptr ? row[f] : 0.0f;
      const bool missing = std::isnan(x);
      scratch[f * kBlock + r] = missing ? -kInf : x;
      scratch[(f_count + f) * kBlock + r] = missing ? kInf : x;
    }
  }
  float acc[kBlock];
  for (size_t r = 0; r < padded; ++r) acc[r] = base_margin_;
  for (const Tree& tree : trees_) {
    const float* leaves = leaves_.data() + tree.first_leaf;
    if (tree.depth == 0) {
      for (size_t r = 0; r < padded; ++r) acc[r] += leaves[0];
      continue;
    }
    const Node* nodes = nodes_.data() + tree.first_node;
    const Node root = nodes[0];
    const float* bottom = leaves - ((1u << tree.depth) - 1);
    for (size_t r0 = 0; r0 < padded; r0 += kLanes) {
      const float* lane_rows = scratch + r0;
      uint32_t pos[kLanes];
#pragma GCC unroll 8
      for (size_t k = 0; k < kLanes; ++k) pos[k] = lane_rows[root.column_offset + k] < root.threshold ? 1 : 2;
      for (uint32_t level = 1; level < tree.depth; ++level) {
#pragma GCC unroll 8
        for (size_t k = 0; k < kLanes; ++k) {
          const Node node = nodes[pos[k]];
          pos[k] = 2 * pos[k] + (lane_rows[node.column_offset + k] < node.threshold ? 1 : 2);
        }
      }
#pragma GCC unroll 8
      for (size_t k = 0; k < kLanes; ++k) acc[r0 + k] += bottom[pos[k]];
    }
  }
  for (size_t r = 0; r < n; ++r) out[r] = acc[r];
}

Status TreeEnsemble::Margins(DenseMatrixView rows, std::span<float> out) const {
  if (out.size() != rows.rows)
    return absl::InvalidArgumentError(Cat("tree ensemble: output has ", out.size(), " slots for ", rows.rows, " rows"));
  if (rows.rows == 0) return absl::OkStatus();
  if (rows.cols != num_features_)
    return absl::InvalidArgumentError(
        Cat("tree ensemble: rows have ", rows.cols, " features, the model ", num_features_));
  if (rows.values.size() != rows.rows * rows.cols)
    return absl::InvalidArgumentError(
        Cat("tree ensemble: ", rows.values.size(), " values for ", rows.rows, " x ", rows.cols));
  std::vector<float> scratch(2 * num_features_ * kBlock);
  for (size_t begin = 0; begin < rows.rows; begin += kBlock) {
    const size_t n = std::min(kBlock, rows.rows - begin);
    ScoreBlock(rows.values.data() + begin * rows.cols, n, rows.cols, scratch.data(), out.data() + begin);
  }
  return absl::OkStatus();
}

Status TreeEnsemble::Predict(DenseMatrixView rows, std::span<float> out) const {
  FUNNEL_RETURN_IF_ERROR(Margins(rows, out));
  if (logistic_) {
    // XGBoost 1.7's common::Sigmoid, clamped the same way so large negative margins agree.
    for (float& v : out) v = 1.0f / (std::exp(std::min(-v, 88.7f)) + 1.0f);
  }
  return absl::OkStatus();
}

}  // namespace funnel::ranking
