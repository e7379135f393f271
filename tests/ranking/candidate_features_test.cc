// The ranker's rows on a hand-made candidate set: standardized scores, log ranks with shared
// ties, found bits, missing scores as NaN, the fused order and score, the user's history, and
// only the top `depth` fused candidates.
#include "funnel/ranking/candidate_features.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/retrieval/popularity.h"

namespace funnel::ranking {
namespace {

using ::testing::ElementsAre;

std::shared_ptr<const retrieval::Source> Fixed(std::string name, std::vector<float> scores) {
  return retrieval::PopularitySource::FromScores(std::move(name), std::move(scores));
}

// Three candidates: a scores 3, 1, 1 (a tie); b scores 0, 2, -inf (it cannot score item 12).
retrieval::CandidateSet Set() {
  retrieval::CandidateSet c;
  c.items = {10, 11, 12};
  c.sources = 2;
  c.scores = {3, 0, 1, 2, 1, -std::numeric_limits<float>::infinity()};
  c.found_by = {0b01, 0b11, 0b10};
  return c;
}

TEST(CandidateFeaturesTest, NamesAreThreePerSourceThenTheGlobalOnes) {
  const std::vector<std::string> sources = {"a", "b"};
  EXPECT_THAT(CandidateFeatureNames(sources),
              ElementsAre("a.score", "a.rank", "a.found", "b.score", "b.rank", "b.found", "fused.score", "fused.rank",
                          "sources.found", "user.history", "user.recent"));
}

TEST(CandidateFeaturesTest, RowsFollowTheFusedOrderWithEveryFeatureByHand) {
  // Fusion by a alone (b weighs 0), raw scores: fused order 10, 11, 12 (11 and 12 tie on a,
  // the lower item first).
  retrieval::Merger merger({{Fixed("a", std::vector<float>(13, 0)), 10, 1.0}, {Fixed("b", std::vector<float>(13, 0)), 10, 0.0}},
                           1000, {.normalization = retrieval::FusionOptions::kScore});
  retrieval::UserState user;
  user.items = {1, 2, 3};
  user.recent = {1};
  CandidateRows rows;
  ComputeCandidateRows(Set(), user, merger, 10, &rows);
  ASSERT_EQ(rows.cols, 11u);
  EXPECT_THAT(rows.candidate, ElementsAre(0u, 1u, 2u));
  ASSERT_EQ(rows.values.size(), 33u);
  auto at = [&](size_t r, size_t f) { return rows.values[r * rows.cols + f]; };
  // a: mean 5/3, population sd sqrt(8/9).
  const double sd = std::sqrt(8.0 / 9.0);
  EXPECT_NEAR(at(0, 0), (3 - 5.0 / 3) / sd, 1e-5);
  EXPECT_NEAR(at(1, 0), (1 - 5.0 / 3) / sd, 1e-5);
  EXPECT_FLOAT_EQ(at(0, 1), 0.0f);
  EXPECT_FLOAT_EQ(at(1, 1), static_cast<float>(std::log1p(1.0)));
  EXPECT_FLOAT_EQ(at(2, 1), static_cast<float>(std::log1p(1.0))) << "ties share the better rank";
  EXPECT_THAT((std::vector<float>{at(0, 2), at(1, 2), at(2, 2)}), ElementsAre(1, 1, 0));
  // b: item 12 has no score: missing, not a number standing in for one.
  EXPECT_NEAR(at(0, 3), -1.0, 1e-5);
  EXPECT_NEAR(at(1, 3), 1.0, 1e-5);
  EXPECT_TRUE(std::isnan(at(2, 3)));
  EXPECT_TRUE(std::isnan(at(2, 4)));
  EXPECT_FLOAT_EQ(at(1, 4), 0.0f);
  EXPECT_THAT((std::vector<float>{at(0, 5), at(1, 5), at(2, 5)}), ElementsAre(0, 1, 1));
  // Global: the fused score is Fuse's, its rank log1p(position), the count of finders, history.
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_FLOAT_EQ(at(r, 6), rows.fused[r].score);
    EXPECT_FLOAT_EQ(at(r, 7), static_cast<float>(std::log1p(static_cast<double>(r))));
    EXPECT_FLOAT_EQ(at(r, 9), static_cast<float>(std::log1p(3.0)));
    EXPECT_FLOAT_EQ(at(r, 10), static_cast<float>(std::log1p(1.0)));
  }
  EXPECT_THAT((std::vector<float>{at(0, 8), at(1, 8), at(2, 8)}), ElementsAre(1, 2, 1));
}

TEST(CandidateFeaturesTest, DepthKeepsOnlyTheTopOfTheFusedOrderButStatisticsSeeEveryCandidate) {
  // Fusion by b alone: 11 (2), 10 (0), then 12 (-inf, clamped lowest).
  retrieval::Merger merger({{Fixed("a", std::vector<float>(13, 0)), 10, 0.0}, {Fixed("b", std::vector<float>(13, 0)), 10, 1.0}},
                           1000, {.normalization = retrieval::FusionOptions::kScore});
  CandidateRows rows;
  ComputeCandidateRows(Set(), {}, merger, 2, &rows);
  EXPECT_EQ(rows.fused.size(), 3u) << "the fused order covers every candidate";
  EXPECT_THAT(rows.candidate, ElementsAre(1u, 0u));
  ASSERT_EQ(rows.values.size(), 2 * rows.cols);
  const double sd = std::sqrt(8.0 / 9.0);
  EXPECT_NEAR(rows.values[0], (1 - 5.0 / 3) / sd, 1e-5) << "a's statistics include the candidate left out";
}

}  // namespace
}  // namespace funnel::ranking
