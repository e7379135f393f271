#include "funnel/retrieval/ease.h"

#include <random>

#include <Eigen/LU>
#include <gtest/gtest.h>

#include "retrieval/ease_internal.h"

namespace funnel::retrieval {
namespace {

CsrMatrix RandomInteractions(uint32_t users, uint32_t items, double density, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution take(density);
  std::uniform_int_distribution<int> stars(-1, 5);
  std::vector<Triplet> triplets;
  for (uint32_t u = 0; u < users; ++u)
    for (uint32_t i = 0; i < items; ++i)
      if (take(rng)) triplets.push_back({u, i, float(stars(rng))});  // 0s are dropped, -1s kept
  return CsrMatrix::FromTriplets(users, items, std::move(triplets));
}

// The formula as written, in double, with a general dense inverse: the twin of the fit.
Eigen::MatrixXd NaiveEase(const CsrMatrix& m, double lambda, bool binarize) {
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(m.rows, m.cols);
  for (uint32_t u = 0; u < m.rows; ++u)
    for (uint64_t e = m.offsets[u]; e < m.offsets[u + 1]; ++e)
      x(u, m.indices[e]) = binarize ? (m.values[e] > 0 ? 1.0 : 0.0) : m.values[e];
  Eigen::MatrixXd g = x.transpose() * x + lambda * Eigen::MatrixXd::Identity(m.cols, m.cols);
  Eigen::MatrixXd p = g.inverse();
  Eigen::MatrixXd b = Eigen::MatrixXd::Identity(m.cols, m.cols) - p * p.diagonal().cwiseInverse().asDiagonal();
  b.diagonal().setZero();
  return b;
}

double MaxAbsDiff(const EaseModel& model, const Eigen::MatrixXd& want) {
  return (model.weights.cast<double>() - want).cwiseAbs().maxCoeff();
}

TEST(EaseTest, DiagonalIsZero) {
  CsrMatrix m = RandomInteractions(200, 150, 0.1, 1);
  auto model = TrainEase(m, {.lambda = 20});
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(model->num_items(), 150u);
  EXPECT_EQ(model->weights.diagonal().cwiseAbs().maxCoeff(), 0.0f);
  EXPECT_GT(model->weights.cwiseAbs().maxCoeff(), 0.01f);
}

TEST(EaseTest, MatchesDirectDenseComputationOnATinyMatrix) {
  CsrMatrix m = RandomInteractions(30, 12, 0.3, 2);
  for (bool binarize : {true, false}) {
    Eigen::MatrixXd want = NaiveEase(m, 3, binarize);
    const double scale = std::max(1.0, want.cwiseAbs().maxCoeff());
    auto exact = TrainEaseWith(m, {.lambda = 3, .binarize = binarize}, EasePrecision::kDouble, nullptr);
    ASSERT_TRUE(exact.ok()) << exact.status();
    EXPECT_LT(MaxAbsDiff(*exact, want), 1e-6 * scale) << "binarize " << binarize;
    auto model = TrainEase(m, {.lambda = 3, .binarize = binarize});
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_LT(MaxAbsDiff(*model, want), 1e-4 * scale) << "binarize " << binarize;
  }
}

// 300 items span several solve blocks (128) and tiles (64), and two threads share them.
TEST(EaseTest, BlockedParallelFitMatchesDirectComputation) {
  CsrMatrix m = RandomInteractions(600, 300, 0.05, 3);
  Eigen::MatrixXd want = NaiveEase(m, 10, true);
  for (int threads : {1, 2}) {
    auto model = TrainEaseWith(m, {.lambda = 10, .threads = threads}, EasePrecision::kDouble, nullptr);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_LT(MaxAbsDiff(*model, want), 1e-6) << threads << " threads";
    auto single = TrainEaseWith(m, {.lambda = 10, .threads = threads}, EasePrecision::kFloat, nullptr);
    ASSERT_TRUE(single.ok());
    EXPECT_LT(MaxAbsDiff(*single, want), 1e-4) << threads << " threads";
  }
}

TEST(EaseTest, AutoPrecisionRefitsInDoubleWhenIllConditioned) {
  // An item everybody has, and item 39 consumed by exactly the users of item 1: with a tiny
  // lambda the Gram is nearly singular and the factor's diagonal spans a wide range.
  std::vector<Triplet> t;
  for (uint32_t u = 0; u < 2000; ++u) {
    t.push_back({u, 0, 1});
    t.push_back({u, 1 + u % 38, 1});
    if (u % 38 == 0) t.push_back({u, 39, 1});
  }
  CsrMatrix m = CsrMatrix::FromTriplets(2000, 40, t);
  EaseFitTimes times;
  auto model = TrainEaseWith(m, {.lambda = 0.01}, EasePrecision::kAuto, &times);
  ASSERT_TRUE(model.ok());
  EXPECT_GT(times.condition_estimate, kFloatConditionLimit);
  EXPECT_TRUE(times.used_double);
  Eigen::MatrixXd want = NaiveEase(m, 0.01, true);
  EXPECT_LT(MaxAbsDiff(*model, want), 1e-6 * want.cwiseAbs().maxCoeff());

  auto easy = TrainEaseWith(m, {.lambda = 500}, EasePrecision::kAuto, &times);
  ASSERT_TRUE(easy.ok());
  EXPECT_FALSE(times.used_double);
}

TEST(EaseTest, CoOccurringItemsScoreHighest) {
  // Items 0 and 1 are always consumed together, as are 2 and 3; item 4 goes with anything.
  std::vector<Triplet> t;
  for (uint32_t u = 0; u < 40; ++u) {
    uint32_t a = u % 2 == 0 ? 0 : 2;
    t.push_back({u, a, 1});
    t.push_back({u, a + 1, 1});
    if (u % 5 == 0) t.push_back({u, 4, 1});
  }
  CsrMatrix m = CsrMatrix::FromTriplets(40, 6, t);
  EaseOptions options{.lambda = 1};
  auto model = TrainEase(m, options);
  ASSERT_TRUE(model.ok());
  std::vector<uint32_t> history = {0};
  std::vector<float> strength = {1};
  std::vector<float> scores(6);
  ScoreEase(*model, options, history, strength, scores);
  for (uint32_t j : {2u, 3u, 4u, 5u}) EXPECT_GT(scores[1], scores[j]) << j;
  history = {2};
  ScoreEase(*model, options, history, strength, scores);
  for (uint32_t j : {0u, 1u, 4u, 5u}) EXPECT_GT(scores[3], scores[j]) << j;
}

TEST(EaseTest, ScoresAreTheHistoryTimesB) {
  CsrMatrix m = RandomInteractions(100, 40, 0.2, 4);
  for (bool binarize : {true, false}) {
    EaseOptions options{.lambda = 5, .binarize = binarize};
    auto model = TrainEase(m, options);
    ASSERT_TRUE(model.ok());
    std::vector<uint32_t> items = {3, 17, 22};
    std::vector<float> strengths = {2, -1, 0.5};
    std::vector<float> scores(40);
    ScoreEase(*model, options, items, strengths, scores);
    Eigen::VectorXf x = Eigen::VectorXf::Zero(40);
    for (size_t h = 0; h < items.size(); ++h) x[items[h]] = binarize ? (strengths[h] > 0 ? 1.0f : 0.0f) : strengths[h];
    Eigen::VectorXf want = model->weights.transpose() * x;
    for (int j = 0; j < 40; ++j) EXPECT_NEAR(scores[j], want[j], 1e-5);
  }
}

TEST(EaseTest, LargeLambdaShrinksWeightsTowardZero) {
  CsrMatrix m = RandomInteractions(200, 50, 0.1, 5);
  float previous = 1e30f;
  for (double lambda : {1.0, 100.0, 1e4, 1e7}) {
    auto model = TrainEase(m, {.lambda = lambda});
    ASSERT_TRUE(model.ok());
    float largest = model->weights.cwiseAbs().maxCoeff();
    EXPECT_LT(largest, previous) << "lambda " << lambda;
    previous = largest;
  }
  EXPECT_LT(previous, 1e-5f);
}

TEST(EaseTest, RefusesCatalogsAboveMaxItems) {
  CsrMatrix m = RandomInteractions(10, 101, 0.1, 6);
  auto model = TrainEase(m, {.max_items = 100});
  ASSERT_FALSE(model.ok());
  std::string message(MessageOf(model.status()));
  EXPECT_NE(message.find("101 items"), std::string::npos) << message;
  EXPECT_NE(message.find("max_items = 100"), std::string::npos) << message;
  EXPECT_TRUE(TrainEase(m, {.max_items = 101}).ok());
}

TEST(EaseTest, RejectsNonPositiveLambda) {
  CsrMatrix m = RandomInteractions(10, 10, 0.3, 7);
  EXPECT_FALSE(TrainEase(m, {.lambda = 0}).ok());
  EXPECT_FALSE(TrainEase(m, {.lambda = -5}).ok());
}

TEST(EaseTest, EmptyRowsAndUnseenItemsAreHarmless) {
  // Users 0, 2 and 4 have no items; item 5 nobody has.
  std::vector<Triplet> t = {{1, 0, 1}, {1, 1, 1}, {3, 1, 1}, {3, 2, 1}, {5, 3, 1}, {5, 4, 1}, {5, 0, 1}};
  CsrMatrix m = CsrMatrix::FromTriplets(6, 6, t);
  auto model = TrainEase(m, {.lambda = 2});
  ASSERT_TRUE(model.ok());
  EXPECT_LT(MaxAbsDiff(*model, NaiveEase(m, 2, true)), 1e-5);
  EXPECT_EQ(model->weights.row(5).cwiseAbs().maxCoeff(), 0.0f);
  EXPECT_EQ(model->weights.col(5).cwiseAbs().maxCoeff(), 0.0f);
  std::vector<float> scores(6, 7.0f);
  ScoreEase(*model, EaseOptions{}, {}, {}, scores);
  for (float s : scores) EXPECT_EQ(s, 0.0f);

  auto empty = TrainEase(CsrMatrix::FromTriplets(3, 0, {}), {});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->num_items(), 0u);
}

}  // namespace
}  // namespace funnel::retrieval
