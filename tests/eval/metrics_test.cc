#include "funnel/eval/metrics.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace funnel::eval {
namespace {

std::vector<ItemIdx> Items(std::initializer_list<uint32_t> raw) {
  std::vector<ItemIdx> out;
  for (uint32_t r : raw) out.push_back(ItemIdx{r});
  return out;
}

std::vector<ItemIdx> Range(uint32_t from, uint32_t to) {
  std::vector<ItemIdx> out;
  for (uint32_t r = from; r < to; ++r) out.push_back(ItemIdx{r});
  return out;
}

TEST(ScoreListTest, PerfectListScoresOneEverywhere) {
  std::vector<ItemIdx> truth = Items({3, 7, 9});
  std::vector<ItemIdx> ranked = Items({7, 3, 9, 1, 2, 4, 5, 6, 8, 10, 11});
  UserMetrics m = ScoreList(ranked, truth);
  EXPECT_DOUBLE_EQ(m.recall20, 1.0);
  EXPECT_DOUBLE_EQ(m.ndcg10, 1.0);
  EXPECT_DOUBLE_EQ(m.ndcg20, 1.0);
  EXPECT_DOUBLE_EQ(m.hit10, 1.0);
  EXPECT_DOUBLE_EQ(m.recall100, 1.0);
  EXPECT_DOUBLE_EQ(m.recall500, 1.0);
}

TEST(ScoreListTest, NdcgMatchesHandComputedValue) {
  // Hits at ranks 2 and 5: (1/log2 3 + 1/log2 6) / (1 + 1/log2 3) = 0.6240505...
  std::vector<ItemIdx> truth = Items({2, 5});
  std::vector<ItemIdx> ranked = Items({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  UserMetrics m = ScoreList(ranked, truth);
  EXPECT_NEAR(m.ndcg10, 0.6240505200038379, 1e-12);
  EXPECT_NEAR(m.ndcg20, 0.6240505200038379, 1e-12);
  EXPECT_DOUBLE_EQ(m.recall20, 1.0);
  EXPECT_DOUBLE_EQ(m.hit10, 1.0);
}

TEST(ScoreListTest, HitBelowRankTenCountsOnlyForTheTwentyMetrics) {
  // Truth of 3, one hit at rank 12: NDCG@20 = (1/log2 13) / (1 + 1/log2 3 + 1/log2 4).
  std::vector<ItemIdx> truth = Items({100, 200, 300});
  std::vector<ItemIdx> ranked = Range(0, 20);
  ranked[11] = ItemIdx{200};
  UserMetrics m = ScoreList(ranked, truth);
  EXPECT_DOUBLE_EQ(m.ndcg10, 0.0);
  EXPECT_DOUBLE_EQ(m.hit10, 0.0);
  EXPECT_NEAR(m.ndcg20, 0.12681701683239352, 1e-12);
  EXPECT_NEAR(m.recall20, 1.0 / 3.0, 1e-15);
}

TEST(ScoreListTest, TruthLargerThanTheCutoffIsNormalizedByTheCutoff) {
  // 30 truth items, the list holds 20 of them: recall@20 and NDCG are 1 (denominator
  // min(20, |truth|) and ideal DCG over min(k, |truth|)), candidate recall@100 is 20/30.
  std::vector<ItemIdx> truth = Range(0, 30);
  std::vector<ItemIdx> ranked = Range(10, 30);
  UserMetrics m = ScoreList(ranked, truth);
  EXPECT_DOUBLE_EQ(m.recall20, 1.0);
  EXPECT_DOUBLE_EQ(m.ndcg10, 1.0);
  EXPECT_DOUBLE_EQ(m.ndcg20, 1.0);
  EXPECT_NEAR(m.recall100, 20.0 / 30.0, 1e-15);
  EXPECT_NEAR(m.recall500, 20.0 / 30.0, 1e-15);
}

TEST(ScoreListTest, CandidateRecallCountsHitsUpToItsDepth) {
  std::vector<ItemIdx> truth = Items({1000, 2000, 3000, 4000});
  std::vector<ItemIdx> ranked = Range(0, 600);
  ranked[50] = ItemIdx{1000};   // inside the top 100
  ranked[150] = ItemIdx{2000};  // inside the top 500 only
  ranked[550] = ItemIdx{3000};  // past 500: counts nowhere
  UserMetrics m = ScoreList(ranked, truth);
  EXPECT_DOUBLE_EQ(m.recall20, 0.0);
  EXPECT_DOUBLE_EQ(m.recall100, 0.25);
  EXPECT_DOUBLE_EQ(m.recall500, 0.5);
}

TEST(ScoreListTest, EmptyListScoresZero) {
  std::vector<ItemIdx> truth = Items({1, 2});
  UserMetrics m = ScoreList({}, truth);
  EXPECT_EQ(m.recall20, 0.0);
  EXPECT_EQ(m.ndcg10, 0.0);
  EXPECT_EQ(m.ndcg20, 0.0);
  EXPECT_EQ(m.hit10, 0.0);
  EXPECT_EQ(m.recall100, 0.0);
}

TEST(ScoreListTest, EmptyTruthScoresZeroInsteadOfDividingByZero) {
  std::vector<ItemIdx> ranked = Items({1, 2, 3});
  UserMetrics m = ScoreList(ranked, {});
  EXPECT_EQ(m.recall20, 0.0);
  EXPECT_EQ(m.ndcg10, 0.0);
  EXPECT_FALSE(std::isnan(m.ndcg20));
}

TEST(ScoreListTest, ItemListedTwiceCountsOnceAtItsFirstRank) {
  std::vector<ItemIdx> truth = Items({5});
  std::vector<ItemIdx> ranked = Items({5, 5, 5});
  UserMetrics m = ScoreList(ranked, truth);
  EXPECT_DOUBLE_EQ(m.recall20, 1.0);
  EXPECT_DOUBLE_EQ(m.ndcg10, 1.0);
}

TEST(MetricsAccumulatorTest, OverallIsMicroAveragedOverPairsWithSampleStandardError) {
  MetricsAccumulator acc;
  UserMetrics one, zero, half;
  one.ndcg10 = 1.0;
  zero.ndcg10 = 0.0;
  half.ndcg10 = 0.5;
  acc.Add(1, one, {});
  acc.Add(1, zero, {});
  acc.Add(2, half, {});

  MetricsSummary overall = acc.Overall();
  EXPECT_EQ(overall.users, 3u);
  EXPECT_DOUBLE_EQ(overall.ndcg10.mean, 0.5);
  // Sample stddev of {1, 0, 0.5} is 0.5; / sqrt(3).
  EXPECT_NEAR(overall.ndcg10.stderr_, 0.5 / std::sqrt(3.0), 1e-15);

  MetricsSummary fold1 = acc.Fold(1);
  EXPECT_EQ(fold1.users, 2u);
  EXPECT_DOUBLE_EQ(fold1.ndcg10.mean, 0.5);
  EXPECT_NEAR(fold1.ndcg10.stderr_, std::sqrt(0.5) / std::sqrt(2.0), 1e-15);
  MetricsSummary fold2 = acc.Fold(2);
  EXPECT_EQ(fold2.users, 1u);
  EXPECT_DOUBLE_EQ(fold2.ndcg10.stderr_, 0.0);
  EXPECT_EQ(acc.Fold(3).users, 0u);
  EXPECT_EQ(acc.folds(), (std::vector<int>{1, 2}));
}

TEST(MetricsAccumulatorTest, PairedDifferenceIsTheMeanAndStandardErrorOfPerUserDifferences) {
  // Four users over two folds; b scores each user a little below a, while both vary a lot
  // across users: the paired error is far smaller than either list's own.
  const double a_values[] = {0.9, 0.1, 0.6, 0.3}, b_values[] = {0.8, 0.0, 0.4, 0.2};
  MetricsAccumulator a, b;
  for (int u = 0; u < 4; ++u) {
    UserMetrics ma, mb;
    ma.ndcg10 = a_values[u];
    mb.ndcg10 = b_values[u];
    a.Add(1 + u / 2, ma, {});
    b.Add(1 + u / 2, mb, {});
  }
  auto d = a.PairedDifference(b, &UserMetrics::ndcg10);
  ASSERT_TRUE(d.has_value());
  EXPECT_NEAR(d->mean, 0.125, 1e-12);  // differences 0.1, 0.1, 0.2, 0.1
  EXPECT_NEAR(d->stderr_, std::sqrt(0.0075 / 3) / 2, 1e-12);  // Σ(d - mean)² = 0.0075
  EXPECT_LT(d->stderr_, a.Overall().ndcg10.stderr_ / 5);
  auto reverse = b.PairedDifference(a, &UserMetrics::ndcg10);
  ASSERT_TRUE(reverse.has_value());
  EXPECT_NEAR(reverse->mean, -0.125, 1e-12);
  EXPECT_EQ(a.PairedDifference(b, &UserMetrics::hit10)->mean, 0.0) << "another metric: all zeros here";

  UserMetrics extra;
  b.Add(2, extra, {});
  EXPECT_FALSE(a.PairedDifference(b, &UserMetrics::ndcg10).has_value()) << "not the same users";
}

TEST(MetricsAccumulatorTest, MicroAverageWeighsFoldsByTheirPairs) {
  MetricsAccumulator acc;
  UserMetrics hit;
  hit.hit10 = 1.0;
  UserMetrics miss;
  for (int i = 0; i < 3; ++i) acc.Add(1, hit, {});
  acc.Add(2, miss, {});
  // Three hits out of four pairs, not the mean of the fold means (0.5).
  EXPECT_DOUBLE_EQ(acc.Overall().hit10.mean, 0.75);
}

TEST(MetricsAccumulatorTest, CoverageCountsDistinctTopTenItemsPerFoldAndAveragesFolds) {
  MetricsAccumulator acc;
  UserMetrics m;
  // Fold 1: two lists whose top 10 share 5 items -> 15 distinct of a catalog of 30; the items
  // past rank 10 do not count.
  acc.Add(1, m, Range(0, 20));
  acc.Add(1, m, Range(5, 25));
  acc.SetCatalogSize(1, 30);
  // Fold 2: one short list of 4 items in a catalog of 40.
  acc.Add(2, m, Range(0, 4));
  acc.SetCatalogSize(2, 40);
  EXPECT_DOUBLE_EQ(acc.Fold(1).coverage10, 0.5);
  EXPECT_DOUBLE_EQ(acc.Fold(2).coverage10, 0.1);
  EXPECT_DOUBLE_EQ(acc.Overall().coverage10, 0.3);
}

TEST(MetricsAccumulatorTest, FoldWithoutPairsDoesNotDiluteOverallCoverage) {
  MetricsAccumulator acc;
  UserMetrics m;
  acc.Add(1, m, Range(0, 10));
  acc.SetCatalogSize(1, 20);
  acc.SetCatalogSize(2, 50);  // no test user in fold 2
  EXPECT_DOUBLE_EQ(acc.Overall().coverage10, 0.5);
  EXPECT_EQ(acc.folds(), (std::vector<int>{1, 2}));
}

}  // namespace
}  // namespace funnel::eval
