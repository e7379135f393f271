// Gradient boosted trees through XGBoost's C API (Debian's libxgboost-dev, 1.7): train from a
// dense float matrix, predict with XGBoost itself, save the model as JSON. The JSON is what
// serving loads into TreeEnsemble (tree_ensemble.h); XgboostBooster's own Predict is the oracle
// the fast evaluator is tested against.
//
//   XgboostTrainOptions opt;
//   opt.params = {{"objective", "binary:logistic"}, {"max_depth", "6"}, {"eta", "0.1"}};
//   opt.num_boost_round = 200;  opt.early_stopping_rounds = 20;
//   FUNNEL_ASSIGN_OR_RETURN(XgboostBooster b, XgboostBooster::Train(train, &valid, opt));
//   FUNNEL_ASSIGN_OR_RETURN(std::string json, b.SaveJson());
//
// Every error XGBoost reports (bad parameter, shape mismatch) comes back as a Status carrying
// XGBGetLastError's text; no XGBoost exception or abort crosses this interface.
//
// Thread-safety: Train and LoadJson are reentrant. Predict and SaveJson may run concurrently on
// one booster (XGBoost documents prediction as thread-safe since 1.4 and keeps the C API's
// output buffers per thread); SetParam must not run concurrently with anything. A booster is
// move-only and owns its handle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "funnel/core/status.h"

namespace funnel::ranking {

// A row-major rows x cols matrix of features; NaN marks a missing value. Not owned.
struct DenseMatrixView {
  std::span<const float> values;  // rows * cols
  size_t rows = 0;
  size_t cols = 0;
};

struct XgboostData {
  DenseMatrixView features;
  std::span<const float> labels;    // one per row
  std::span<const float> weights;   // empty, or one per row
  // Sizes of consecutive query groups (rows of one group are adjacent), summing to rows;
  // required by rank:* objectives, empty otherwise.
  std::span<const uint32_t> groups;
};

struct XgboostTrainOptions {
  // Passed to XGBoosterSetParam in order, after Funnel's defaults (tree_method=hist, nthread=1,
  // verbosity=0), so any of those can be overridden: objective, max_depth, eta, eval_metric,
  // seed, ... Unknown keys are XGBoost's to judge (it warns, and ignores them).
  std::vector<std::pair<std::string, std::string>> params;
  int num_boost_round = 100;  // >= 1
  // With a validation set: stop when its eval metric (the last eval_metric given, or the
  // objective's default) has not improved for this many rounds, and keep the trees up to the
  // best round. 0: train all rounds.
  int early_stopping_rounds = 0;
};

// The outcome of the validation set, when one was given.
struct XgboostEvalResult {
  std::string metric;         // e.g. "logloss", "ndcg@10"
  int best_iteration = -1;    // 0-based round with the best validation score
  double best_score = 0;
  std::vector<double> history;  // the metric after each round trained
};

class XgboostBooster {
 public:
  // Fails with InvalidArgument on inconsistent shapes (labels, weights, groups vs rows,
  // validation cols vs train cols), num_boost_round < 1, early stopping without a validation set,
  // or whatever XGBoost rejects.
  static StatusOr<XgboostBooster> Train(const XgboostData& train, const XgboostData* validation,
                                        const XgboostTrainOptions& options);
  // A model saved by SaveJson (or by any XGBoost 1.7 as JSON).
  static StatusOr<XgboostBooster> LoadJson(std::string_view json);

  XgboostBooster(XgboostBooster&& other) noexcept;
  XgboostBooster& operator=(XgboostBooster&& other) noexcept;
  XgboostBooster(const XgboostBooster&) = delete;
  XgboostBooster& operator=(const XgboostBooster&) = delete;
  ~XgboostBooster();

  // XGBoost's own inplace prediction over every tree of the model: the objective's output
  // (probabilities for binary:logistic) or, with margin, the raw sum of base score and leaves.
  // out.size() must equal rows.rows; rows.cols must equal num_features(). Runs on the booster's
  // nthread (1 unless set otherwise by params or SetParam).
  Status Predict(DenseMatrixView rows, bool margin, std::span<float> out) const;
  StatusOr<std::vector<float>> Predict(DenseMatrixView rows, bool margin = false) const;

  // XGBoost's JSON model format (XGBoosterSaveModelToBuffer, format json).
  StatusOr<std::string> SaveJson() const;

  // Sets one XGBoost parameter on the trained booster (e.g. nthread for prediction).
  Status SetParam(const std::string& key, const std::string& value);

  size_t num_features() const { return num_features_; }
  int boosted_rounds() const;
  // Filled when Train had a validation set.
  const XgboostEvalResult& eval() const { return eval_; }

 private:
  XgboostBooster(void* handle, size_t num_features) : handle_(handle), num_features_(num_features) {}

  void* handle_ = nullptr;  // BoosterHandle; null only after a move
  size_t num_features_ = 0;
  XgboostEvalResult eval_;
};

}  // namespace funnel::ranking
