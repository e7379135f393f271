// The fast evaluator against its oracle, XGBoost's own prediction: real models trained on random
// data with missing values (depths 1..8, 1..200 trees, every supported objective), scored on
// fresh rows holding NaNs and values exactly at split thresholds. Also: what malformed or
// unsupported models answer.
#include "funnel/ranking/tree_ensemble.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/ranking/xgboost_trainer.h"

namespace funnel::ranking {
namespace {

using ::testing::HasSubstr;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> RandomRows(size_t rows, size_t cols, double nan_rate, std::mt19937_64& rng) {
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<double> u01(0, 1);
  std::vector<float> x(rows * cols);
  for (float& v : x) v = u01(rng) < nan_rate ? kNaN : normal(rng);
  return x;
}

// A label that depends on a few features, NaN counting as a value of its own, so trees split on
// them and learn default directions both ways.
float Signal(const float* row, size_t cols) {
  float s = 0;
  for (size_t j = 0; j < std::min<size_t>(cols, 5); ++j) s += std::isnan(row[j]) ? (j % 2 ? 1.0f : -1.0f) : row[j] * (j + 1) * 0.5f;
  return s;
}

// Every split threshold in the model per feature, read from the JSON, to build rows that sit
// exactly on them (x == threshold must go right, as in XGBoost).
std::map<int64_t, std::vector<float>> Thresholds(const std::string& json) {
  std::map<int64_t, std::vector<float>> out;
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(json);
  for (simdjson::dom::element tree : root["learner"]["gradient_booster"]["model"]["trees"].get_array()) {
    std::vector<int64_t> left, feature;
    std::vector<double> cond;
    for (auto e : tree["left_children"].get_array()) left.push_back(int64_t(e));
    for (auto e : tree["split_indices"].get_array()) feature.push_back(int64_t(e));
    for (auto e : tree["split_conditions"].get_array()) cond.push_back(double(e));
    for (size_t i = 0; i < left.size(); ++i)
      if (left[i] != -1) out[feature[i]].push_back(static_cast<float>(cond[i]));
  }
  return out;
}

struct Case {
  std::string objective;
  int depth;
  int trees;
  double nan_rate;
  std::vector<std::pair<std::string, std::string>> extra;
};

// The largest |ours - xgboost| / max(1, |xgboost|) over margins and outputs of every case run.
double g_max_relative_diff = 0;

void ExpectMatchesXgboost(const Case& c, uint64_t seed) {
  SCOPED_TRACE(Cat(c.objective, " depth ", c.depth, " trees ", c.trees, " seed ", seed));
  std::mt19937_64 rng(seed);
  const size_t cols = 12, rows = 1000;
  std::vector<float> x = RandomRows(rows, cols, c.nan_rate, rng);
  std::vector<float> y(rows);
  std::normal_distribution<float> noise(0, 0.5f);
  std::vector<uint32_t> groups;
  for (size_t i = 0; i < rows; ++i) {
    float s = Signal(&x[i * cols], cols) + noise(rng);
    y[i] = c.objective == "binary:logistic" ? (s > 0 ? 1.0f : 0.0f)
           : c.objective.starts_with("rank:") ? std::clamp(std::floor(s + 2), 0.0f, 4.0f)
                                              : s;
  }
  if (c.objective.starts_with("rank:"))
    for (size_t left = rows; left > 0;) {
      uint32_t g = std::min<size_t>(left, 5 + rng() % 40);
      groups.push_back(g);
      left -= g;
    }
  XgboostTrainOptions opt;
  opt.params = {{"objective", c.objective}, {"max_depth", std::to_string(c.depth)}, {"eta", "0.3"},
                {"seed", std::to_string(seed)}, {"min_child_weight", "0.1"}};
  for (const auto& kv : c.extra) opt.params.push_back(kv);
  opt.num_boost_round = c.trees;
  auto booster = XgboostBooster::Train({{x, rows, cols}, y, {}, groups}, nullptr, opt);
  ASSERT_TRUE(booster.ok()) << booster.status();
  auto json = booster->SaveJson();
  ASSERT_TRUE(json.ok()) << json.status();
  auto model = TreeEnsemble::FromXgboostJson(*json);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->num_trees(), static_cast<size_t>(c.trees));
  EXPECT_EQ(model->num_features(), cols);

  // Fresh rows: random with NaNs, then a third of them with every feature on a split threshold.
  const size_t test_rows = 777;  // not a multiple of the block
  std::vector<float> t = RandomRows(test_rows, cols, c.nan_rate, rng);
  auto thresholds = Thresholds(*json);
  for (size_t i = 0; i < test_rows; i += 3)
    for (size_t j = 0; j < cols; ++j)
      if (auto it = thresholds.find(j); it != thresholds.end() && !it->second.empty())
        t[i * cols + j] = it->second[rng() % it->second.size()];
  // And infinities, which are values, not missing, to XGBoost.
  for (size_t i = 1; i < test_rows; i += 50) t[i * cols + i % cols] = (i % 4 == 1 ? 1 : -1) * std::numeric_limits<float>::infinity();
  DenseMatrixView view{t, test_rows, cols};
  for (bool margin : {true, false}) {
    auto expected = booster->Predict(view, margin);
    ASSERT_TRUE(expected.ok()) << expected.status();
    std::vector<float> got(test_rows);
    ASSERT_TRUE((margin ? model->Margins(view, got) : model->Predict(view, got)).ok());
    for (size_t i = 0; i < test_rows; ++i) {
      double diff = std::abs(double(got[i]) - (*expected)[i]) / std::max(1.0, std::abs(double((*expected)[i])));
      g_max_relative_diff = std::max(g_max_relative_diff, diff);
      ASSERT_LE(diff, 1e-5) << "row " << i << (margin ? " margin " : " output ") << got[i] << " vs "
                            << (*expected)[i];
    }
  }
}

TEST(TreeEnsembleTest, MatchesXgboostOnTrainedModelsOfEveryDepthAndSize) {
  uint64_t seed = 1;
  for (const char* objective : {"binary:logistic", "reg:squarederror", "rank:pairwise", "rank:ndcg"})
    for (int depth : {1, 2, 3, 5, 6, 8})
      for (int trees : {1, 13, depth == 1 || depth >= 6 ? 200 : 60})
        ExpectMatchesXgboost({objective, depth, trees, 0.15, {}}, seed++);
  std::printf("max relative difference against XGBoost: %.3g\n", g_max_relative_diff);
}

TEST(TreeEnsembleTest, AppliesBaseScoreInMarginSpace) {
  // base_score 0.3 for the logistic is a margin of logit(0.3); for regression it is added as is.
  ExpectMatchesXgboost({"binary:logistic", 4, 20, 0.2, {{"base_score", "0.3"}}}, 101);
  ExpectMatchesXgboost({"reg:squarederror", 4, 20, 0.2, {{"base_score", "-2.5"}}}, 102);
  ExpectMatchesXgboost({"rank:pairwise", 4, 20, 0.2, {{"base_score", "0.1"}}}, 103);
}

TEST(TreeEnsembleTest, MatchesXgboostWithManyMissingValuesAndNone) {
  ExpectMatchesXgboost({"binary:logistic", 6, 50, 0.6, {}}, 201);
  ExpectMatchesXgboost({"reg:squarederror", 6, 50, 0.0, {}}, 202);
}

TEST(TreeEnsembleTest, SingleLeafTreesScoreTheirLeaf) {
  // A huge gamma forbids every split: each tree is its root leaf.
  ExpectMatchesXgboost({"reg:squarederror", 6, 10, 0.1, {{"gamma", "1e9"}}}, 301);
}

TEST(TreeEnsembleTest, LogisticOutputIsTheSigmoidOfTheMargin) {
  std::mt19937_64 rng(7);
  std::vector<float> x = RandomRows(300, 4, 0.1, rng), y(300);
  for (size_t i = 0; i < 300; ++i) y[i] = Signal(&x[i * 4], 4) > 0;
  XgboostTrainOptions opt;
  opt.params = {{"objective", "binary:logistic"}};
  opt.num_boost_round = 5;
  auto booster = XgboostBooster::Train({{x, 300, 4}, y, {}, {}}, nullptr, opt);
  ASSERT_TRUE(booster.ok()) << booster.status();
  auto model = TreeEnsemble::FromXgboostJson(*booster->SaveJson());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->objective(), "binary:logistic");
  EXPECT_FLOAT_EQ(model->base_score(), 0.5f);
  EXPECT_FLOAT_EQ(model->base_margin(), 0.0f);
  std::vector<float> m(300), p(300);
  ASSERT_TRUE(model->Margins({x, 300, 4}, m).ok());
  ASSERT_TRUE(model->Predict({x, 300, 4}, p).ok());
  for (size_t i = 0; i < 300; ++i) EXPECT_NEAR(p[i], 1 / (1 + std::exp(-double(m[i]))), 1e-6);
}

TEST(TreeEnsembleTest, ScoresDoNotDependOnTheBatchSize) {
  std::mt19937_64 rng(8);
  const size_t cols = 6, rows = 131;
  std::vector<float> x = RandomRows(rows, cols, 0.2, rng), y(rows);
  for (size_t i = 0; i < rows; ++i) y[i] = Signal(&x[i * cols], cols);
  XgboostTrainOptions opt;
  opt.params = {{"objective", "reg:squarederror"}, {"max_depth", "5"}};
  opt.num_boost_round = 30;
  auto booster = XgboostBooster::Train({{x, rows, cols}, y, {}, {}}, nullptr, opt);
  ASSERT_TRUE(booster.ok()) << booster.status();
  auto model = TreeEnsemble::FromXgboostJson(*booster->SaveJson());
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<float> batch(rows);
  ASSERT_TRUE(model->Predict({x, rows, cols}, batch).ok());
  for (size_t i = 0; i < rows; ++i) {
    float one = 0;
    ASSERT_TRUE(model->Predict({{&x[i * cols], cols}, 1, cols}, {&one, 1}).ok());
    EXPECT_EQ(one, batch[i]) << "row " << i;
  }
}

// A small valid model to break in the tests below.
std::string SmallModelJson() {
  std::mt19937_64 rng(3);
  std::vector<float> x = RandomRows(200, 3, 0.1, rng), y(200);
  for (size_t i = 0; i < 200; ++i) y[i] = Signal(&x[i * 3], 3);
  XgboostTrainOptions opt;
  opt.params = {{"objective", "reg:squarederror"}, {"max_depth", "3"}};
  opt.num_boost_round = 3;
  auto booster = XgboostBooster::Train({{x, 200, 3}, y, {}, {}}, nullptr, opt);
  FUNNEL_CHECK(booster.ok());
  return *booster->SaveJson();
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  FUNNEL_CHECK(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

// `s` with the first array element after `key` (e.g. "\"split_indices\":[") set to `to`.
std::string ReplaceFirstElement(const std::string& s, const std::string& key, const std::string& to) {
  size_t at = s.find(key);
  FUNNEL_CHECK(at != std::string::npos);
  at += key.size();
  size_t end = s.find_first_of(",]", at);
  return s.substr(0, at) + to + s.substr(end);
}

void ExpectRefused(const std::string& json, const std::string& message) {
  SCOPED_TRACE(message);
  auto model = TreeEnsemble::FromXgboostJson(json);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(MessageOf(model.status())), HasSubstr(message));
}

TEST(TreeEnsembleTest, RefusesMalformedJsonWithAClearError) {
  const std::string good = SmallModelJson();
  ASSERT_TRUE(TreeEnsemble::FromXgboostJson(good).ok());
  ExpectRefused("", "not JSON");
  ExpectRefused("{\"learner\":", "not JSON");
  ExpectRefused(good.substr(0, good.size() / 2), "not JSON");
  ExpectRefused("{}", "no learner");
  ExpectRefused("[1,2,3]", "no learner");
  ExpectRefused(Replace(good, "\"left_children\":[", "\"left_children\":[0,"), "differ in length");
  ExpectRefused(Replace(good, "\"left_children\":[1", "\"left_children\":[0"), "out of range");
  ExpectRefused(Replace(good, "\"left_children\":[1", "\"left_children\":[99"), "out of range");
  ExpectRefused(Replace(good, "\"split_indices\":[", "\"split_indices\":[\"a\","), "non-integer");
  ExpectRefused(ReplaceFirstElement(good, "\"split_indices\":[", "3"), "splits on feature 3 of 3");
  ExpectRefused(ReplaceFirstElement(good, "\"split_indices\":[", "-1"), "split index -1 out of range");
  ExpectRefused(Replace(good, "\"base_score\":\"", "\"base_score\":\"x"), "not a number");
  ExpectRefused(Replace(good, "\"num_class\":\"0\",\"num_feature\":\"3\"", "\"num_class\":\"0\",\"num_feature\":3"), "num_feature");
}

TEST(TreeEnsembleTest, RefusesUnsupportedModelsNamingWhatIsSupported) {
  const std::string good = SmallModelJson();
  ExpectRefused(Replace(good, "reg:squarederror", "multi:softprob"),
                "unsupported objective 'multi:softprob'; supported: binary:logistic");
  ExpectRefused(Replace(good, "\"split_type\":[0", "\"split_type\":[1"), "categorical split");
  ExpectRefused(Replace(good, "\"feature_types\":[]", "\"feature_types\":[\"q\",\"c\",\"q\"]"),
                "categorical features");
  ExpectRefused(Replace(good, "\"name\":\"gbtree\"", "\"name\":\"dart\""), "booster 'dart'");
  ExpectRefused(Replace(good, "\"num_class\":\"0\"", "\"num_class\":\"3\""), "multi-output");
}

TEST(TreeEnsembleTest, RefusesTreesDeeperThanTheLimit) {
  std::mt19937_64 rng(5);
  const size_t rows = 4000;
  std::vector<float> x = RandomRows(rows, 6, 0.0, rng), y(rows);
  std::normal_distribution<float> normal;
  for (float& v : y) v = normal(rng);  // noise: every split helps, so the tree grows deep
  XgboostTrainOptions opt;
  opt.params = {{"objective", "reg:squarederror"}, {"max_depth", "16"}, {"min_child_weight", "0"},
                {"lambda", "0"}};
  opt.num_boost_round = 1;
  auto booster = XgboostBooster::Train({{x, rows, 6}, y, {}, {}}, nullptr, opt);
  ASSERT_TRUE(booster.ok()) << booster.status();
  ExpectRefused(*booster->SaveJson(), "deeper than 12");
}

TEST(TreeEnsembleTest, RejectsRowsOfTheWrongShape) {
  auto model = TreeEnsemble::FromXgboostJson(SmallModelJson());
  ASSERT_TRUE(model.ok());
  std::vector<float> x(8), out(2);
  EXPECT_FALSE(model->Predict({x, 2, 4}, out).ok());      // 4 features, the model has 3
  EXPECT_FALSE(model->Predict({x, 2, 3}, out).ok());      // 8 values for 2 x 3
  EXPECT_FALSE(model->Predict({{x.data(), 6}, 2, 3}, std::span<float>(out.data(), 1)).ok());
  EXPECT_TRUE(model->Predict({{}, 0, 3}, {}).ok());
}

// The trainer's own behaviour: early stopping keeps the best round, errors are statuses.
TEST(XgboostTrainerTest, EarlyStoppingKeepsTheTreesUpToTheBestRound) {
  std::mt19937_64 rng(11);
  const size_t rows = 600, cols = 5;
  std::vector<float> x = RandomRows(rows, cols, 0.1, rng), vx = RandomRows(rows, cols, 0.1, rng), y(rows), vy(rows);
  std::normal_distribution<float> noise(0, 2.0f);
  for (size_t i = 0; i < rows; ++i) {
    y[i] = Signal(&x[i * cols], cols) + noise(rng);
    vy[i] = Signal(&vx[i * cols], cols) + noise(rng);
  }
  XgboostTrainOptions opt;
  opt.params = {{"objective", "reg:squarederror"}, {"max_depth", "6"}, {"eta", "0.5"}, {"eval_metric", "rmse"}};
  opt.num_boost_round = 300;
  opt.early_stopping_rounds = 5;
  XgboostData train{{x, rows, cols}, y, {}, {}}, valid{{vx, rows, cols}, vy, {}, {}};
  auto booster = XgboostBooster::Train(train, &valid, opt);
  ASSERT_TRUE(booster.ok()) << booster.status();
  const XgboostEvalResult& ev = booster->eval();
  EXPECT_EQ(ev.metric, "rmse");
  ASSERT_GE(ev.best_iteration, 0);
  EXPECT_LT(ev.history.size(), 300u);  // noisy labels overfit fast: it stopped
  EXPECT_EQ(ev.history.size(), static_cast<size_t>(ev.best_iteration + 1 + opt.early_stopping_rounds));
  EXPECT_DOUBLE_EQ(*std::min_element(ev.history.begin(), ev.history.end()), ev.best_score);
  EXPECT_EQ(booster->boosted_rounds(), ev.best_iteration + 1);
  auto model = TreeEnsemble::FromXgboostJson(*booster->SaveJson());
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->num_trees(), static_cast<size_t>(ev.best_iteration + 1));
}

TEST(XgboostTrainerTest, EarlyStoppingOnARankingMetricMaximizesIt) {
  std::mt19937_64 rng(13);
  const size_t rows = 800, cols = 5;
  std::vector<float> x = RandomRows(rows, cols, 0.1, rng), vx = RandomRows(rows, cols, 0.1, rng), y(rows), vy(rows);
  std::normal_distribution<float> noise(0, 1.5f);
  for (size_t i = 0; i < rows; ++i) {
    y[i] = std::clamp(std::floor(Signal(&x[i * cols], cols) + noise(rng) + 2), 0.0f, 4.0f);
    vy[i] = std::clamp(std::floor(Signal(&vx[i * cols], cols) + noise(rng) + 2), 0.0f, 4.0f);
  }
  std::vector<uint32_t> groups(rows / 20, 20);
  XgboostTrainOptions opt;
  opt.params = {{"objective", "rank:ndcg"}, {"max_depth", "4"}, {"eta", "0.5"}, {"eval_metric", "ndcg@5"}};
  opt.num_boost_round = 200;
  opt.early_stopping_rounds = 10;
  XgboostData train{{x, rows, cols}, y, {}, groups}, valid{{vx, rows, cols}, vy, {}, groups};
  auto booster = XgboostBooster::Train(train, &valid, opt);
  ASSERT_TRUE(booster.ok()) << booster.status();
  const XgboostEvalResult& ev = booster->eval();
  EXPECT_EQ(ev.metric, "ndcg@5");
  EXPECT_DOUBLE_EQ(*std::max_element(ev.history.begin(), ev.history.end()), ev.best_score);
  EXPECT_EQ(booster->boosted_rounds(), ev.best_iteration + 1);
}

TEST(XgboostTrainerTest, WeightsAndJsonRoundTripKeepPredictions) {
  std::mt19937_64 rng(12);
  std::vector<float> x = RandomRows(400, 4, 0.1, rng), y(400), w(400);
  for (size_t i = 0; i < 400; ++i) {
    y[i] = Signal(&x[i * 4], 4) > 0;
    w[i] = 0.5f + (i % 3);
  }
  XgboostTrainOptions opt;
  opt.params = {{"objective", "binary:logistic"}, {"max_depth", "4"}};
  opt.num_boost_round = 20;
  auto booster = XgboostBooster::Train({{x, 400, 4}, y, w, {}}, nullptr, opt);
  ASSERT_TRUE(booster.ok()) << booster.status();
  auto loaded = XgboostBooster::LoadJson(*booster->SaveJson());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->num_features(), 4u);
  EXPECT_EQ(*booster->Predict({x, 400, 4}), *loaded->Predict({x, 400, 4}));
}

TEST(XgboostTrainerTest, ErrorsAreStatusesWithXgboostsMessage) {
  std::vector<float> x(20, 1.0f), y(10, 0.0f);
  XgboostTrainOptions opt;
  opt.params = {{"objective", "no:such"}};
  auto bad_objective = XgboostBooster::Train({{x, 10, 2}, y, {}, {}}, nullptr, opt);
  ASSERT_FALSE(bad_objective.ok());
  EXPECT_THAT(std::string(MessageOf(bad_objective.status())), HasSubstr("no:such"));
  EXPECT_THAT(std::string(MessageOf(bad_objective.status())), ::testing::Not(HasSubstr("Stack trace")));

  opt.params = {{"objective", "reg:squarederror"}};
  EXPECT_FALSE(XgboostBooster::Train({{x, 10, 2}, std::span<const float>(y.data(), 9), {}, {}}, nullptr, opt).ok());
  std::vector<uint32_t> groups = {3, 3};
  EXPECT_FALSE(XgboostBooster::Train({{x, 10, 2}, y, {}, groups}, nullptr, opt).ok());
  opt.early_stopping_rounds = 3;
  EXPECT_FALSE(XgboostBooster::Train({{x, 10, 2}, y, {}, {}}, nullptr, opt).ok());
  EXPECT_FALSE(XgboostBooster::LoadJson("{not json").ok());
}

}  // namespace
}  // namespace funnel::ranking
