#include "funnel/retrieval/ials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "retrieval/ials_half_step.h"

namespace funnel::retrieval {
namespace {

// A planted rank-`groups` implicit matrix: user u and item i belong to groups u % groups and
// i % groups; a user interacts with an item of its own group with probability `p_in` (scaled by
// the item's popularity), with any other item with probability `p_out`. A fifth of each user's
// positives is held out.
struct Planted {
  CsrMatrix train;
  std::vector<std::vector<uint32_t>> held_out;  // per user
  uint32_t groups = 0;
  std::vector<double> popularity;  // per item
};

Planted MakePlanted(uint32_t users, uint32_t items, uint32_t groups, uint64_t seed,
                    double p_in = 0.35, double p_out = 0.01) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u01(0, 1);
  std::vector<double> popularity(items);
  for (auto& p : popularity) p = 0.3 + 0.7 * u01(rng);
  Planted d;
  d.held_out.resize(users);
  d.groups = groups;
  d.popularity = popularity;
  std::vector<Triplet> triplets;
  for (uint32_t u = 0; u < users; ++u)
    for (uint32_t i = 0; i < items; ++i) {
      double p = (u % groups == i % groups ? p_in : p_out) * popularity[i];
      if (u01(rng) >= p) continue;
      if (u01(rng) < 0.2)
        d.held_out[u].push_back(i);
      else
        triplets.push_back({u, i, 1.0f});
    }
  d.train = CsrMatrix::FromTriplets(users, items, std::move(triplets));
  return d;
}

// A random signed matrix (likes and some dislikes) for numerical comparisons.
CsrMatrix RandomSigned(uint32_t rows, uint32_t cols, double density, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u01(0, 1);
  std::vector<Triplet> triplets;
  for (uint32_t r = 0; r < rows; ++r)
    for (uint32_t c = 0; c < cols; ++c)
      if (u01(rng) < density) {
        float v = static_cast<float>(1 + 4 * u01(rng));
        triplets.push_back({r, c, u01(rng) < 0.2 ? -v : v});
      }
  return CsrMatrix::FromTriplets(rows, cols, std::move(triplets));
}

FactorMatrix RandomFactors(Eigen::Index rows, Eigen::Index f, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0, scale);
  FactorMatrix m(rows, f);
  for (Eigen::Index k = 0; k < m.size(); ++k) m.data()[k] = n(rng);
  return m;
}

// Mean recall@k of the held-out items, ranking the items a user did not train on by `score`.
double RecallAtK(const Planted& d, int k, const std::function<float(uint32_t, uint32_t)>& score) {
  double total = 0;
  int users = 0;
  for (uint32_t u = 0; u < d.train.rows; ++u) {
    if (d.held_out[u].empty()) continue;
    std::vector<char> trained(d.train.cols, 0);
    for (uint32_t i : d.train.RowIndices(u)) trained[i] = 1;
    std::vector<std::pair<float, uint32_t>> ranked;
    for (uint32_t i = 0; i < d.train.cols; ++i)
      if (!trained[i]) ranked.push_back({-score(u, i), i});
    std::partial_sort(ranked.begin(), ranked.begin() + k, ranked.end());
    int hits = 0;
    for (int r = 0; r < k; ++r)
      hits += std::count(d.held_out[u].begin(), d.held_out[u].end(), ranked[r].second) > 0;
    total += static_cast<double>(hits) / std::min<size_t>(k, d.held_out[u].size());
    ++users;
  }
  return total / users;
}

IalsOptions SmallOptions() {
  IalsOptions o;
  o.factors = 16;
  o.iterations = 10;
  o.regularization = 0.1;
  o.alpha = 4;
  o.threads = 2;
  return o;
}

float Score(const IalsModel& m, uint32_t u, uint32_t i) {
  return m.user_factors.row(u).dot(m.item_factors.row(i));
}

TEST(IalsTrainerTest, LearnsPlantedStructureFarAbovePopularity) {
  Planted d = MakePlanted(1000, 240, 8, 1);
  IalsOptions o = SmallOptions();
  o.factors = 8;  // the planted rank
  auto m = TrainIals(d.train, o);
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<float> popularity(d.train.cols, 0);
  for (uint32_t i : d.train.indices) popularity[i] += 1;
  double ials = RecallAtK(d, 10, [&](uint32_t u, uint32_t i) { return Score(*m, u, i); });
  double pop = RecallAtK(d, 10, [&](uint32_t, uint32_t i) { return popularity[i]; });
  // The oracle knows the planted groups and popularities; out-of-group held-out items are
  // unpredictable, so even it stays well below 1.
  double oracle = RecallAtK(d, 10, [&](uint32_t u, uint32_t i) {
    return static_cast<float>((u % d.groups == i % d.groups) + d.popularity[i]);
  });
  EXPECT_GT(ials, 0.9 * oracle) << "iALS " << ials << " oracle " << oracle;
  EXPECT_GT(ials, 4 * pop) << "iALS " << ials << " popularity " << pop;
}

TEST(IalsTrainerTest, LossDecreasesEveryIteration) {
  // Each CG step minimizes a row's quadratic over a space that contains its starting point, so
  // even one step per row may never raise the loss. Runs with more iterations extend the same
  // trajectory (same seed), so training 1..6 iterations traces it.
  Planted d = MakePlanted(200, 120, 6, 2);
  for (bool exact : {false, true}) {
    IalsOptions o = SmallOptions();
    o.cg_steps = 1;
    o.exact_solve = exact;
    double previous = INFINITY;
    for (int it = 1; it <= 6; ++it) {
      o.iterations = it;
      auto m = TrainIals(d.train, o);
      ASSERT_TRUE(m.ok()) << m.status();
      double loss = IalsLoss(d.train, *m, o);
      EXPECT_LT(loss, previous * (1 + 1e-6)) << "exact " << exact << " iteration " << it;
      previous = loss;
    }
    double zero_model_loss = 0;  // Σ over positives of c·(1 − 0)²
    for (float r : d.train.values) zero_model_loss += r > 0 ? 1 + o.alpha * r : 0;
    EXPECT_LT(previous, 0.5 * zero_model_loss) << "exact " << exact;
  }
}

TEST(IalsTrainerTest, LossMatchesTheDenseObjective) {
  CsrMatrix x = RandomSigned(30, 20, 0.2, 3);
  IalsOptions o = SmallOptions();
  o.factors = 5;
  o.iterations = 2;
  o.alpha = 2.5;
  o.regularization = 0.3;
  auto m = TrainIals(x, o);
  ASSERT_TRUE(m.ok()) << m.status();
  Eigen::MatrixXd dense = Eigen::MatrixXd::Zero(30, 20);
  for (uint32_t u = 0; u < x.rows; ++u)
    for (uint64_t j = x.offsets[u]; j < x.offsets[u + 1]; ++j) dense(u, x.indices[j]) = x.values[j];
  double expected = 0;
  for (int u = 0; u < 30; ++u)
    for (int i = 0; i < 20; ++i) {
      double r = dense(u, i);
      double c = 1 + o.alpha * std::fabs(r);
      double p = r > 0 ? 1 : 0;
      double s = m->user_factors.row(u).cast<double>().dot(m->item_factors.row(i).cast<double>());
      expected += c * (p - s) * (p - s);
    }
  expected += o.regularization * (m->user_factors.cast<double>().squaredNorm() +
                                  m->item_factors.cast<double>().squaredNorm());
  EXPECT_NEAR(IalsLoss(x, *m, o), expected, 1e-9 * expected);
}

TEST(IalsHalfStepTest, ExactRowSolveMatchesDenseWeightedLeastSquares) {
  // The oracle's oracle: min Σ_i c_i·(p_i − x·y_i)² + λ|x|² over every item, with the full
  // confidence diagonal, solved from scratch without the (c − 1) rank-one trick.
  const int f = 6;
  FactorMatrix y = RandomFactors(25, f, 4, 0.5f);
  std::vector<uint32_t> items = {3, 7, 8, 20, 24};
  std::vector<float> strengths = {2, -1.5f, 0.5f, 3, -4};
  const float alpha = 1.7f;
  const double lambda = 0.2;
  Eigen::VectorXd c = Eigen::VectorXd::Ones(25), p = Eigen::VectorXd::Zero(25);
  for (size_t k = 0; k < items.size(); ++k) {
    c(items[k]) = 1 + alpha * std::fabs(strengths[k]);
    p(items[k]) = strengths[k] > 0 ? 1 : 0;
  }
  Eigen::MatrixXd yd = y.cast<double>();
  Eigen::MatrixXd a = yd.transpose() * c.asDiagonal() * yd;
  a.diagonal().array() += lambda;
  Eigen::VectorXd expected = a.ldlt().solve(yd.transpose() * c.cwiseProduct(p));

  Eigen::MatrixXd gram = internal::Gram(y, lambda, 1).cast<double>();
  std::vector<float> out(f);
  internal::SolveRowExact(gram, y, items, strengths, alpha, out);
  for (int j = 0; j < f; ++j) EXPECT_NEAR(out[j], expected(j), 1e-5 * expected.norm()) << j;
}

TEST(IalsHalfStepTest, GramIsTheSameForAnyThreadCount) {
  FactorMatrix y = RandomFactors(5000, 24, 5, 1.0f);
  Eigen::MatrixXf one = internal::Gram(y, 0.5, 1);
  EXPECT_TRUE(one == internal::Gram(y, 0.5, 2));
  EXPECT_TRUE(one == internal::Gram(y, 0.5, 3));
  Eigen::MatrixXd expected = y.cast<double>().transpose() * y.cast<double>();
  expected.diagonal().array() += 0.5;
  EXPECT_LT((one.cast<double>() - expected).norm(), 1e-5 * expected.norm());
}

// CG on f unknowns converges in f steps in exact arithmetic; in float a few more steps get it
// to float precision. Checked for the compile-time factor counts and the dynamic fallback.
class IalsCgTest : public ::testing::TestWithParam<int> {};

TEST_P(IalsCgTest, CgMatchesExactSolveAfterEnoughSteps) {
  const int f = GetParam();
  CsrMatrix x = RandomSigned(60, 300, 0.1, 6);
  FactorMatrix y = RandomFactors(300, f, 7, 0.3f);
  Eigen::MatrixXf gram = internal::Gram(y, 0.05, 1);
  FactorMatrix exact(60, f);
  internal::HalfStepExact(x, y, gram, 1.5f, 2, exact);
  FactorMatrix cg = RandomFactors(60, f, 8, 0.1f);  // any warm start
  internal::HalfStepCg(x, y, gram, 1.5f, 3 * f, 2, cg);
  for (int u = 0; u < 60; ++u)
    EXPECT_LT((cg.row(u) - exact.row(u)).norm(), 1e-3f * (exact.row(u).norm() + 1e-3f)) << u;
}

TEST_P(IalsCgTest, FewCgStepsMoveTowardTheExactSolution) {
  const int f = GetParam();
  CsrMatrix x = RandomSigned(60, 300, 0.1, 9);
  FactorMatrix y = RandomFactors(300, f, 10, 0.3f);
  Eigen::MatrixXf gram = internal::Gram(y, 0.05, 1);
  FactorMatrix exact(60, f);
  internal::HalfStepExact(x, y, gram, 1.5f, 1, exact);
  FactorMatrix start = RandomFactors(60, f, 11, 0.1f);
  double previous = (start - exact).norm();
  for (int steps = 1; steps <= 4; ++steps) {
    FactorMatrix cg = start;
    internal::HalfStepCg(x, y, gram, 1.5f, steps, 1, cg);
    double error = (cg - exact).norm();
    EXPECT_LT(error, previous) << steps << " steps";
    previous = error;
  }
}

INSTANTIATE_TEST_SUITE_P(FactorCounts, IalsCgTest, ::testing::Values(16, 64, 10));

TEST(IalsTrainerTest, TrainingWithManyCgStepsMatchesExactTraining) {
  Planted d = MakePlanted(150, 100, 5, 12);
  IalsOptions o = SmallOptions();
  o.iterations = 3;
  o.exact_solve = true;
  auto exact = TrainIals(d.train, o);
  o.exact_solve = false;
  o.cg_steps = 3 * o.factors;
  auto cg = TrainIals(d.train, o);
  ASSERT_TRUE(exact.ok() && cg.ok());
  EXPECT_LT((cg->user_factors - exact->user_factors).norm(),
            1e-3f * exact->user_factors.norm());
  EXPECT_LT((cg->item_factors - exact->item_factors).norm(),
            1e-3f * exact->item_factors.norm());
}

TEST(IalsTrainerTest, FoldInReproducesTrainedUserVectors) {
  // The last half-step of training solves every user against the final items, exactly the
  // fold-in problem: with exact solves they agree to float precision, with 3 CG steps per
  // iteration they agree once training has converged.
  Planted d = MakePlanted(200, 120, 6, 13);
  for (bool exact : {true, false}) {
    IalsOptions o = SmallOptions();
    o.exact_solve = exact;
    o.iterations = exact ? 3 : 40;
    auto m = TrainIals(d.train, o);
    ASSERT_TRUE(m.ok()) << m.status();
    const float tolerance = exact ? 1e-4f : 2e-2f;
    std::vector<float> v(o.factors);
    for (uint32_t u = 0; u < d.train.rows; ++u) {
      FoldInUser(*m, o, d.train.RowIndices(u), d.train.RowValues(u), v);
      Eigen::Map<Eigen::RowVectorXf> folded(v.data(), o.factors);
      EXPECT_LT((folded - m->user_factors.row(u)).norm(),
                tolerance * (m->user_factors.row(u).norm() + 1e-3f))
          << "exact " << exact << " user " << u;
    }
  }
}

TEST(IalsTrainerTest, FoldInMovesUserTowardLikedItemsAndAwayFromDisliked) {
  Planted d = MakePlanted(200, 120, 6, 14);
  IalsOptions o = SmallOptions();
  auto m = TrainIals(d.train, o);
  ASSERT_TRUE(m.ok()) << m.status();
  // A new user who liked three items of group 2 ranks another group-2 item above a group-3 one.
  std::vector<uint32_t> items = {2, 8, 14};
  std::vector<float> strengths = {1, 1, 1};
  std::vector<float> v(o.factors);
  FoldInUser(*m, o, items, strengths, v);
  Eigen::Map<Eigen::RowVectorXf> x(v.data(), o.factors);
  EXPECT_GT(x.dot(m->item_factors.row(20)), x.dot(m->item_factors.row(21)) + 0.1f);
  const float neutral = x.dot(m->item_factors.row(20));
  // Liking item 20 too raises its score; disliking it lowers it below the neutral score.
  items.push_back(20);
  strengths.push_back(2);
  FoldInUser(*m, o, items, strengths, v);
  EXPECT_GT(x.dot(m->item_factors.row(20)), neutral);
  strengths.back() = -2;
  FoldInUser(*m, o, items, strengths, v);
  EXPECT_LT(x.dot(m->item_factors.row(20)), neutral - 0.05f);
}

TEST(IalsTrainerTest, NegativeStrengthsPushTrainedScoresDown) {
  // Half of group 0 (users 0, 12, 24, ...) dislikes item 6, a group-0 item the other half likes:
  // compared with leaving those pairs absent, their trained scores drop.
  Planted d = MakePlanted(200, 120, 6, 15);
  auto dislikes = [](uint32_t u) { return u % 12 == 0; };
  std::vector<Triplet> triplets;
  for (uint32_t u = 0; u < d.train.rows; ++u)
    for (uint64_t j = d.train.offsets[u]; j < d.train.offsets[u + 1]; ++j)
      if (!(dislikes(u) && d.train.indices[j] == 6))
        triplets.push_back({u, d.train.indices[j], d.train.values[j]});
  CsrMatrix absent = CsrMatrix::FromTriplets(200, 120, triplets);
  for (uint32_t u = 0; u < 200; ++u)
    if (dislikes(u)) triplets.push_back({u, 6, -3.0f});
  CsrMatrix disliked = CsrMatrix::FromTriplets(200, 120, triplets);
  IalsOptions o = SmallOptions();
  auto a = TrainIals(absent, o);
  auto b = TrainIals(disliked, o);
  ASSERT_TRUE(a.ok() && b.ok());
  double with_absent = 0, with_dislike = 0;
  int users = 0;
  for (uint32_t u = 0; u < 200; ++u)
    if (dislikes(u)) {
      with_absent += Score(*a, u, 6);
      with_dislike += Score(*b, u, 6);
      ++users;
    }
  with_absent /= users;
  with_dislike /= users;
  EXPECT_GT(with_absent, 0.1) << "item 6 should look relevant to group 0 without the dislikes";
  EXPECT_LT(with_dislike, with_absent - 0.1);
  EXPECT_LT(with_dislike, 0.05) << "a dislike with confidence 1 + 3·alpha pulls toward 0";
}

TEST(IalsTrainerTest, DeterministicForASeed) {
  Planted d = MakePlanted(150, 100, 5, 16);
  IalsOptions o = SmallOptions();
  auto a = TrainIals(d.train, o);
  auto b = TrainIals(d.train, o);
  o.seed = 43;
  auto c = TrainIals(d.train, o);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(a->user_factors == b->user_factors);
  EXPECT_TRUE(a->item_factors == b->item_factors);
  EXPECT_TRUE(a->item_gram == b->item_gram);
  EXPECT_FALSE(a->user_factors == c->user_factors);
}

TEST(IalsTrainerTest, ThreadCountDoesNotChangeResults) {
  // Rows are solved independently and grams are summed in fixed blocks: bit-identical output.
  Planted d = MakePlanted(300, 2500, 5, 17, 0.05, 0.002);
  for (bool exact : {false, true}) {
    IalsOptions o = SmallOptions();
    o.iterations = exact ? 2 : 5;
    o.exact_solve = exact;
    o.threads = 1;
    auto one = TrainIals(d.train, o);
    o.threads = 2;
    auto two = TrainIals(d.train, o);
    o.threads = 3;
    auto three = TrainIals(d.train, o);
    ASSERT_TRUE(one.ok() && two.ok() && three.ok());
    EXPECT_TRUE(one->user_factors == two->user_factors) << "exact " << exact;
    EXPECT_TRUE(one->item_factors == two->item_factors) << "exact " << exact;
    EXPECT_TRUE(one->user_factors == three->user_factors) << "exact " << exact;
    EXPECT_TRUE(one->item_factors == three->item_factors) << "exact " << exact;
    EXPECT_EQ(IalsLoss(d.train, *one, o), IalsLoss(d.train, *two, o));
  }
}

TEST(IalsTrainerTest, UsersAndItemsWithoutEntriesGetZeroVectors) {
  // User 3 and item 4 have no entry; user 2 only dislikes (nothing to be pulled toward).
  CsrMatrix x = CsrMatrix::FromTriplets(
      5, 6, {{0, 0, 1}, {0, 1, 2}, {1, 1, 1}, {1, 2, 1}, {2, 5, -1}, {4, 0, 1}, {4, 3, 1}});
  for (bool exact : {false, true}) {
    IalsOptions o = SmallOptions();
    o.factors = 4;
    o.exact_solve = exact;
    auto m = TrainIals(x, o);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(m->user_factors.row(3).isZero(0)) << "exact " << exact;
    EXPECT_TRUE(m->item_factors.row(4).isZero(0)) << "exact " << exact;
    EXPECT_LT(m->user_factors.row(2).norm(), 1e-3f) << "exact " << exact;
    EXPECT_TRUE(m->user_factors.allFinite() && m->item_factors.allFinite());
  }
}

TEST(IalsTrainerTest, FoldInWithoutUsableItemsGivesZeroVector) {
  CsrMatrix x = RandomSigned(20, 10, 0.4, 18);
  IalsOptions o = SmallOptions();
  o.factors = 4;
  auto m = TrainIals(x, o);
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<float> v(4, 7.0f);
  FoldInUser(*m, o, {}, {}, v);
  EXPECT_EQ(v, std::vector<float>(4, 0.0f));
  std::vector<uint32_t> items = {10, 99, 3};
  std::vector<float> strengths = {1, 1, NAN};
  v.assign(4, 7.0f);
  FoldInUser(*m, o, items, strengths, v);  // unknown items and a NaN are ignored
  EXPECT_EQ(v, std::vector<float>(4, 0.0f));
}

TEST(IalsTrainerTest, RejectsInvalidOptions) {
  CsrMatrix x = RandomSigned(10, 10, 0.3, 19);
  struct Case {
    std::function<void(IalsOptions&)> change;
    std::string message;
  };
  std::vector<Case> cases = {
      {[](IalsOptions& o) { o.factors = 0; }, "factors"},
      {[](IalsOptions& o) { o.factors = 5000; }, "factors"},
      {[](IalsOptions& o) { o.iterations = 0; }, "iterations"},
      {[](IalsOptions& o) { o.regularization = -1; }, "regularization"},
      {[](IalsOptions& o) { o.regularization = NAN; }, "regularization"},
      {[](IalsOptions& o) { o.alpha = -0.5; }, "alpha"},
      {[](IalsOptions& o) { o.alpha = INFINITY; }, "alpha"},
      {[](IalsOptions& o) { o.cg_steps = 0; }, "cg_steps"},
      {[](IalsOptions& o) { o.threads = -1; }, "threads"},
      {[](IalsOptions& o) { o.init_stddev = -1; }, "init_stddev"},
  };
  for (const Case& c : cases) {
    IalsOptions o = SmallOptions();
    c.change(o);
    auto m = TrainIals(x, o);
    ASSERT_FALSE(m.ok()) << c.message;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(MessageOf(m.status())), ::testing::HasSubstr(c.message));
  }
}

TEST(IalsTrainerTest, RejectsEmptyAndMalformedMatrices) {
  IalsOptions o = SmallOptions();
  auto expect_rejected = [&](const CsrMatrix& x, const std::string& message) {
    auto m = TrainIals(x, o);
    ASSERT_FALSE(m.ok()) << message;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(MessageOf(m.status())), ::testing::HasSubstr(message));
  };
  expect_rejected(CsrMatrix{}, "empty");
  expect_rejected(CsrMatrix::FromTriplets(3, 3, {}), "no entry");
  CsrMatrix x = CsrMatrix::FromTriplets(3, 3, {{0, 1, 1}, {2, 2, 1}});
  CsrMatrix bad_column = x;
  bad_column.indices[1] = 3;
  expect_rejected(bad_column, "out of range");
  CsrMatrix bad_value = x;
  bad_value.values[0] = NAN;
  expect_rejected(bad_value, "non-finite");
  CsrMatrix bad_offsets = x;
  bad_offsets.offsets.pop_back();
  expect_rejected(bad_offsets, "malformed");
}

}  // namespace
}  // namespace funnel::retrieval
