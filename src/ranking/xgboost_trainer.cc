#include "funnel/ranking/xgboost_trainer.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace funnel::ranking {
namespace {

// XGBoost's message, without the stack trace it appends (addresses in libxgboost, no help to
// whoever reads a Funnel error).
Status XgbError(std::string_view call) {
  std::string_view text = XGBGetLastError();
  if (size_t trace = text.find("\nStack trace:"); trace != std::string_view::npos) text = text.substr(0, trace);
  return absl::InvalidArgumentError(Cat("xgboost ", call.substr(0, call.find('(')), ": ", text));
}

#define FUNNEL_XGB(call)                              \
  do {                                                \
    if ((call) != 0) return XgbError(#call);          \
  } while (0)

// Owns one DMatrixHandle.
class DMatrix {
 public:
  DMatrix() = default;
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  ~DMatrix() {
    if (handle_ != nullptr) XGDMatrixFree(handle_);
  }
  DMatrixHandle* out() { return &handle_; }
  DMatrixHandle get() const { return handle_; }

 private:
  DMatrixHandle handle_ = nullptr;
};

Status CheckShape(const DenseMatrixView& m, std::string_view what) {
  if (m.rows == 0 || m.cols == 0)
    return absl::InvalidArgumentError(Cat(what, ": empty matrix (", m.rows, " x ", m.cols, ")"));
  if (m.values.size() != m.rows * m.cols)
    return absl::InvalidArgumentError(
        Cat(what, ": ", m.values.size(), " values for ", m.rows, " x ", m.cols));
  return absl::OkStatus();
}

Status MakeDMatrix(const XgboostData& d, std::string_view what, DMatrix& out) {
  FUNNEL_RETURN_IF_ERROR(CheckShape(d.features, what));
  const size_t rows = d.features.rows;
  if (d.labels.size() != rows)
    return absl::InvalidArgumentError(Cat(what, ": ", d.labels.size(), " labels for ", rows, " rows"));
  if (!d.weights.empty() && d.weights.size() != rows)
    return absl::InvalidArgumentError(Cat(what, ": ", d.weights.size(), " weights for ", rows, " rows"));
  if (!d.groups.empty()) {
    size_t sum = 0;
    for (uint32_t g : d.groups) sum += g;
    if (sum != rows)
      return absl::InvalidArgumentError(Cat(what, ": group sizes sum to ", sum, ", not to the ", rows, " rows"));
  }
  FUNNEL_XGB(XGDMatrixCreateFromMat(d.features.values.data(), d.features.rows, d.features.cols,
                                    std::numeric_limits<float>::quiet_NaN(), out.out()));
  FUNNEL_XGB(XGDMatrixSetFloatInfo(out.get(), "label", d.labels.data(), d.labels.size()));
  if (!d.weights.empty())
    FUNNEL_XGB(XGDMatrixSetFloatInfo(out.get(), "weight", d.weights.data(), d.weights.size()));
  if (!d.groups.empty())
    FUNNEL_XGB(XGDMatrixSetUIntInfo(out.get(), "group", d.groups.data(), d.groups.size()));
  return absl::OkStatus();
}

// XGBoost's own convention (python-package callback.py): these metrics improve upward.
bool HigherIsBetter(std::string_view metric) {
  for (std::string_view prefix : {"auc", "aucpr", "ndcg", "map", "pre"})
    if (metric.substr(0, prefix.size()) == prefix) return true;
  return false;
}

// XGBoosterEvalOneIter prints "[3]\tvalid-logloss:0.61\tvalid-auc:0.7"; the last metric decides,
// as in XGBoost's own early stopping.
Status ParseLastMetric(std::string_view text, std::string& metric, double& value) {
  size_t tab = text.rfind('\t');
  size_t colon = text.rfind(':');
  if (tab == std::string_view::npos || colon == std::string_view::npos || colon < tab)
    return absl::InternalError(Cat("unexpected xgboost eval output '", text, "'"));
  std::string_view name = text.substr(tab + 1, colon - tab - 1);
  if (size_t dash = name.find('-'); dash != std::string_view::npos) name = name.substr(dash + 1);
  metric = std::string(name);
  std::string number(text.substr(colon + 1));
  char* end = nullptr;
  value = std::strtod(number.c_str(), &end);
  if (end == number.c_str()) return absl::InternalError(Cat("unexpected xgboost eval output '", text, "'"));
  return absl::OkStatus();
}

}  // namespace

XgboostBooster::XgboostBooster(XgboostBooster&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      num_features_(other.num_features_),
      eval_(std::move(other.eval_)) {}

XgboostBooster& XgboostBooster::operator=(XgboostBooster&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) XGBoosterFree(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    num_features_ = other.num_features_;
    eval_ = std::move(other.eval_);
  }
  return *this;
}

XgboostBooster::~XgboostBooster() {
  if (handle_ != nullptr) XGBoosterFree(handle_);
}

StatusOr<XgboostBooster> XgboostBooster::Train(const XgboostData& train, const XgboostData* validation,
                                               const XgboostTrainOptions& options) {
  if (options.num_boost_round < 1)
    return absl::InvalidArgumentError(Cat("num_boost_round must be >= 1, got ", options.num_boost_round));
  if (options.early_stopping_rounds < 0)
    return absl::InvalidArgumentError(
        Cat("early_stopping_rounds must be >= 0, got ", options.early_stopping_rounds));
  if (options.early_stopping_rounds > 0 && validation == nullptr)
    return absl::InvalidArgumentError("early_stopping_rounds needs a validation set");
  DMatrix dtrain, dvalid;
  FUNNEL_RETURN_IF_ERROR(MakeDMatrix(train, "training data", dtrain));
  if (validation != nullptr) {
    FUNNEL_RETURN_IF_ERROR(MakeDMatrix(*validation, "validation data", dvalid));
    if (validation->features.cols != train.features.cols)
      return absl::InvalidArgumentError(Cat("validation data has ", validation->features.cols,
                                            " features, training data ", train.features.cols));
  }

  DMatrixHandle caches[2] = {dtrain.get(), dvalid.get()};
  BoosterHandle raw = nullptr;
  FUNNEL_XGB(XGBoosterCreate(caches, validation != nullptr ? 2 : 1, &raw));
  XgboostBooster booster(raw, train.features.cols);
  // Defaults first so options.params can override them. One thread unless asked otherwise: a
  // library on a shared server should not take every core behind its caller's back.
  for (const auto& [key, value] : {std::pair<const char*, const char*>{"tree_method", "hist"},
                                   {"nthread", "1"}, {"verbosity", "0"}})
    FUNNEL_XGB(XGBoosterSetParam(raw, key, value));
  for (const auto& [key, value] : options.params)
    FUNNEL_XGB(XGBoosterSetParam(raw, key.c_str(), value.c_str()));

  XgboostEvalResult& ev = booster.eval_;
  const char* names[1] = {"valid"};
  DMatrixHandle valid_handles[1] = {dvalid.get()};
  bool higher_better = false;
  for (int round = 0; round < options.num_boost_round; ++round) {
    FUNNEL_XGB(XGBoosterUpdateOneIter(raw, round, dtrain.get()));
    if (validation == nullptr) continue;
    const char* text = nullptr;
    FUNNEL_XGB(XGBoosterEvalOneIter(raw, round, valid_handles, names, 1, &text));
    double value = 0;
    FUNNEL_RETURN_IF_ERROR(ParseLastMetric(text, ev.metric, value));
    if (round == 0) higher_better = HigherIsBetter(ev.metric);
    ev.history.push_back(value);
    if (ev.best_iteration < 0 || (higher_better ? value > ev.best_score : value < ev.best_score)) {
      ev.best_iteration = round;
      ev.best_score = value;
    }
    if (options.early_stopping_rounds > 0 && round - ev.best_iteration >= options.early_stopping_rounds)
      break;
  }
  // Keep only the trees up to the best round, so the saved model is exactly what is served (a
  // JSON model carries no "use the first k rounds" that every reader would honour).
  if (options.early_stopping_rounds > 0 && ev.best_iteration + 1 < booster.boosted_rounds()) {
    BoosterHandle sliced = nullptr;
    FUNNEL_XGB(XGBoosterSlice(raw, 0, ev.best_iteration + 1, 1, &sliced));
    XGBoosterFree(booster.handle_);
    booster.handle_ = sliced;
  }
  return booster;
}

StatusOr<XgboostBooster> XgboostBooster::LoadJson(std::string_view json) {
  BoosterHandle raw = nullptr;
  FUNNEL_XGB(XGBoosterCreate(nullptr, 0, &raw));
  XgboostBooster booster(raw, 0);
  FUNNEL_XGB(XGBoosterLoadModelFromBuffer(raw, json.data(), json.size()));
  FUNNEL_XGB(XGBoosterSetParam(raw, "nthread", "1"));
  bst_ulong features = 0;
  FUNNEL_XGB(XGBoosterGetNumFeature(raw, &features));
  booster.num_features_ = features;
  return booster;
}

Status XgboostBooster::SetParam(const std::string& key, const std::string& value) {
  FUNNEL_XGB(XGBoosterSetParam(handle_, key.c_str(), value.c_str()));
  return absl::OkStatus();
}

int XgboostBooster::boosted_rounds() const {
  int rounds = 0;
  if (XGBoosterBoostedRounds(handle_, &rounds) != 0) return 0;
  return rounds;
}

Status XgboostBooster::Predict(DenseMatrixView rows, bool margin, std::span<float> out) const {
  if (out.size() != rows.rows)
    return absl::InvalidArgumentError(Cat("predict: output has ", out.size(), " slots for ", rows.rows, " rows"));
  if (rows.rows == 0) return absl::OkStatus();
  FUNNEL_RETURN_IF_ERROR(CheckShape(rows, "predict"));
  if (rows.cols != num_features_)
    return absl::InvalidArgumentError(
        Cat("predict: rows have ", rows.cols, " features, the model ", num_features_));
  // XGBoost reads the matrix through a numpy-style __array_interface__ given as JSON.
  std::string array = Cat(R"({"data":[)", reinterpret_cast<uintptr_t>(rows.values.data()),
                          R"(,true],"shape":[)", rows.rows, ",", rows.cols,
                          R"(],"typestr":"<f4","version":3})");
  std::string config = Cat(R"({"type":)", margin ? 1 : 0,
                           R"(,"training":false,"iteration_begin":0,"iteration_end":0,)"
                           R"("strict_shape":false,"missing":NaN,"cache_id":0})");
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  FUNNEL_XGB(XGBoosterPredictFromDense(handle_, array.c_str(), config.c_str(), nullptr, &shape, &dim, &result));
  bst_ulong total = 1;
  for (bst_ulong i = 0; i < dim; ++i) total *= shape[i];
  if (total != rows.rows)
    return absl::InvalidArgumentError(
        Cat("predict: xgboost returned ", total, " values for ", rows.rows, " rows (multi-output model?)"));
  std::copy(result, result + rows.rows, out.begin());
  return absl::OkStatus();
}

StatusOr<std::vector<float>> XgboostBooster::Predict(DenseMatrixView rows, bool margin) const {
  std::vector<float> out(rows.rows);
  FUNNEL_RETURN_IF_ERROR(Predict(rows, margin, out));
  return out;
}

StatusOr<std::string> XgboostBooster::SaveJson() const {
  bst_ulong len = 0;
  const char* data = nullptr;
  FUNNEL_XGB(XGBoosterSaveModelToBuffer(handle_, R"({"format":"json"})", &len, &data));
  return std::string(data, len);
}

}  // namespace funnel::ranking
