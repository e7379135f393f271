// The merger over real sources (popularity sources built from fixed scores): the union in source
// order under the max_candidates cap, found_by bits, every source scoring every candidate; the
// column normalizations and the fusion against hand computations.
#include "funnel/retrieval/merger.h"

#include <cmath>
#include <limits>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/retrieval/popularity.h"

namespace funnel::retrieval {
namespace {

using ::testing::ElementsAre;

// A real source whose score of item i is scores[i]; it retrieves items with a positive score,
// best first, ties by the lower item.
std::shared_ptr<const Source> Fixed(std::string name, std::vector<float> scores) {
  return PopularitySource::FromScores(std::move(name), std::move(scores));
}

// x ranks 3, 1, 0 (then 5); y ranks 1, 4, 2.
const std::vector<float> kX = {0.5f, 0.8f, 0.0f, 0.9f, 0.0f, 0.1f};
const std::vector<float> kY = {0.0f, 3.0f, 1.0f, 0.0f, 2.0f, 0.0f};

TEST(MergerTest, CandidatesAreTheUnionInSourceOrderWithFoundByBitsAndEveryScore) {
  Merger m({{Fixed("x", kX), 2, 1.0}, {Fixed("y", kY), 3, 1.0}});
  EXPECT_THAT(m.SourceNames(), ElementsAre("x", "y"));
  CandidateSet c = m.Candidates({}, Timestamp{});
  EXPECT_THAT(c.items, ElementsAre(3u, 1u, 4u, 2u));
  EXPECT_THAT(c.found_by, ElementsAre(0b01u, 0b11u, 0b10u, 0b10u));
  ASSERT_EQ(c.sources, 2u);
  ASSERT_EQ(c.scores.size(), 8u);
  for (size_t j = 0; j < c.items.size(); ++j) {
    EXPECT_EQ(c.Score(j, 0), kX[c.items[j]]) << "x scores every candidate, also those it did not find";
    EXPECT_EQ(c.Score(j, 1), kY[c.items[j]]);
  }
}

TEST(MergerTest, MaxCandidatesCapsTheUnionButLaterSourcesStillMarkKeptItems) {
  Merger m({{Fixed("x", kX), 3, 1.0}, {Fixed("y", kY), 3, 1.0}}, /*max_candidates=*/4);
  CandidateSet c = m.Candidates({}, Timestamp{});
  // x brings 3, 1, 0; y's 1 is already in, 4 fills the cap, 2 is dropped.
  EXPECT_THAT(c.items, ElementsAre(3u, 1u, 0u, 4u));
  EXPECT_THAT(c.found_by, ElementsAre(0b01u, 0b11u, 0b01u, 0b10u));
  Merger tight({{Fixed("x", kX), 3, 1.0}, {Fixed("y", kY), 3, 1.0}}, /*max_candidates=*/2);
  c = tight.Candidates({}, Timestamp{});
  EXPECT_THAT(c.items, ElementsAre(3u, 1u));
  EXPECT_THAT(c.found_by, ElementsAre(0b01u, 0b11u)) << "y found 1, which is kept";
}

TEST(MergerTest, ExcludedItemsAndZeroQuotasContributeNoCandidates) {
  Merger m({{Fixed("x", kX), 0, 1.0}, {Fixed("y", kY), 10, 1.0}});
  UserState u;
  u.exclude = {1};
  CandidateSet c = m.Candidates(u, Timestamp{});
  EXPECT_THAT(c.items, ElementsAre(4u, 2u));
  EXPECT_THAT(c.found_by, ElementsAre(0b10u, 0b10u));
  EXPECT_EQ(c.Score(0, 0), kX[4]) << "a source with quota 0 still scores";
  EXPECT_EQ(c.Score(1, 0), kX[2]);
}

CandidateSet Columns(std::vector<std::vector<float>> cols) {
  CandidateSet c;
  c.sources = cols.size();
  const size_t n = cols.empty() ? 0 : cols[0].size();
  for (size_t j = 0; j < n; ++j) {
    c.items.push_back(static_cast<uint32_t>(j));
    c.found_by.push_back(1);
    for (const auto& col : cols) c.scores.push_back(col[j]);
  }
  return c;
}

std::vector<float> Column(const CandidateSet& c, size_t s) {
  std::vector<float> out;
  for (size_t j = 0; j < c.items.size(); ++j) out.push_back(c.Score(j, s));
  return out;
}

TEST(MergerTest, RankColumnsGivesReciprocalRanksAndTiesShareTheBestRank) {
  CandidateSet c = Columns({{5, 3, 5, 1, 3}, {0, 0, 0, 0, 0}, {-1, 2, 0.5f, 7, 2}});
  RankColumns(&c, 10);
  auto r = [](double rank) { return static_cast<float>(1.0 / (10 + rank)); };
  EXPECT_THAT(Column(c, 0), ElementsAre(r(0), r(2), r(0), r(4), r(2)));
  EXPECT_THAT(Column(c, 1), ElementsAre(r(0), r(0), r(0), r(0), r(0))) << "a source that knows nothing";
  EXPECT_THAT(Column(c, 2), ElementsAre(r(4), r(1), r(3), r(0), r(1)));
}

// The radix-sorted ranks against the definition (rank = how many candidates score strictly
// higher) on 600 scores with runs of ties, both signs, zeros of both signs, infinities and NaN
// (NaN ranks after everything, tied with -inf).
TEST(MergerTest, RankColumnsMatchesTheDefinitionOnScoresWithTiesSignsZerosAndNaN) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> pick(0, 9);
  std::normal_distribution<float> gauss(0, 100);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> col;
  for (int j = 0; j < 600; ++j) {
    switch (pick(rng)) {
      case 0: col.push_back(0.0f); break;
      case 1: col.push_back(-0.0f); break;
      case 2: col.push_back(static_cast<float>(j % 7)); break;  // runs of ties
      case 3: col.push_back(j % 2 ? inf : -inf); break;
      case 4: col.push_back(nan); break;
      default: col.push_back(gauss(rng));
    }
  }
  CandidateSet c = Columns({col});
  RankColumns(&c, 3);
  auto key = [](float x) { return std::isnan(x) ? -std::numeric_limits<float>::infinity() : x; };
  for (size_t j = 0; j < col.size(); ++j) {
    size_t higher = 0;
    for (float other : col) higher += key(other) > key(col[j]);
    ASSERT_EQ(c.Score(j, 0), static_cast<float>(1.0 / (3.0 + static_cast<double>(higher)))) << j << " " << col[j];
  }
}

TEST(MergerTest, StandardizeColumnsGivesMeanZeroUnitDeviationAndZeroForAConstantColumn) {
  CandidateSet c = Columns({{1, 2, 3, 6}, {4, 4, 4, 4}});
  StandardizeColumns(&c);
  // Mean 3, population deviation sqrt((4 + 1 + 0 + 9) / 4) = sqrt(3.5).
  const double sd = std::sqrt(3.5);
  std::vector<float> z = Column(c, 0);
  ASSERT_EQ(z.size(), 4u);
  EXPECT_FLOAT_EQ(z[0], static_cast<float>(-2 / sd));
  EXPECT_FLOAT_EQ(z[1], static_cast<float>(-1 / sd));
  EXPECT_EQ(z[2], 0.0f);
  EXPECT_FLOAT_EQ(z[3], static_cast<float>(3 / sd));
  EXPECT_THAT(Column(c, 1), ElementsAre(0.0f, 0.0f, 0.0f, 0.0f));
  CandidateSet empty = Columns({});
  StandardizeColumns(&empty);  // nothing to do, nothing to divide by
  EXPECT_TRUE(empty.items.empty());
}

TEST(MergerTest, StandardizeColumnsPutsInfinitiesAndNaNAtTheColumnsFiniteEnds) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // Fresh scores an item of unknown age -inf: the column must stay finite, as if it were {1, 1, 2, 6, 6}.
  CandidateSet c = Columns({{-inf, 1, 2, 6, inf}, {nan, 1, 2, 6, 6}, {-inf, -inf, -inf, -inf, -inf}});
  StandardizeColumns(&c);
  CandidateSet want = Columns({{1, 1, 2, 6, 6}, {1, 1, 2, 6, 6}, {0, 0, 0, 0, 0}});
  StandardizeColumns(&want);
  EXPECT_EQ(Column(c, 0), Column(want, 0));
  EXPECT_EQ(Column(c, 1), Column(want, 1));
  EXPECT_THAT(Column(c, 2), ElementsAre(0.0f, 0.0f, 0.0f, 0.0f, 0.0f));
}

// z-scores of a column, in double: the twin of StandardizeColumns.
std::vector<double> Z(const std::vector<double>& x) {
  double mean = 0, sq = 0;
  for (double v : x) mean += v / static_cast<double>(x.size());
  for (double v : x) sq += (v - mean) * (v - mean);
  const double sd = std::sqrt(sq / static_cast<double>(x.size()));
  std::vector<double> z;
  for (double v : x) z.push_back(sd > 1e-12 ? (v - mean) / sd : 0);
  return z;
}

TEST(MergerTest, FuseOnRawScoresIsTheWeightedSumOfZScores) {
  Merger m({{Fixed("x", kX), 10, 2.0}, {Fixed("y", kY), 10, -1.0}}, 1000, {.normalization = FusionOptions::kScore});
  CandidateSet c = m.Candidates({}, Timestamp{});
  ASSERT_THAT(c.items, ElementsAre(3u, 1u, 0u, 5u, 4u, 2u));
  // x over the candidates: 0.9 0.8 0.5 0.1 0 0; y: 0 3 0 0 2 1.
  std::vector<double> zx = Z({0.9f, 0.8f, 0.5f, 0.1f, 0, 0}), zy = Z({0, 3, 0, 0, 2, 1});
  std::vector<std::pair<double, uint32_t>> want;
  for (size_t j = 0; j < 6; ++j) want.emplace_back(2 * zx[j] - zy[j], c.items[j]);
  std::sort(want.begin(), want.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<Candidate> got = m.Fuse(c, 4);
  ASSERT_EQ(got.size(), 4u);
  for (size_t r = 0; r < 4; ++r) {
    EXPECT_EQ(got[r].item, want[r].second) << r;
    EXPECT_NEAR(got[r].score, want[r].first, 1e-5) << r;
  }
  // Explicit weights override the slots' own.
  std::vector<double> w = {0, 1};
  got = m.Fuse(c, 10, w);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].item, 1u);
  EXPECT_NEAR(got[0].score, zy[1], 1e-5);
  EXPECT_EQ(got[1].item, 4u);
  EXPECT_EQ(got[2].item, 2u);
  // The three items y scores 0 tie: lower item first.
  EXPECT_EQ(got[3].item, 0u);
  EXPECT_EQ(got[4].item, 3u);
  EXPECT_EQ(got[5].item, 5u);
}

TEST(MergerTest, FuseOnRanksIsTheWeightedSumOfStandardizedReciprocalRanks) {
  Merger m({{Fixed("x", kX), 10, 1.0}, {Fixed("y", kY), 10, 0.5}}, 1000,
           {.normalization = FusionOptions::kRank, .rank_offset = 2});
  CandidateSet c = m.Candidates({}, Timestamp{});
  ASSERT_THAT(c.items, ElementsAre(3u, 1u, 0u, 5u, 4u, 2u));
  // Ranks by x: 3→0, 1→1, 0→2, 5→3, 4 and 2 tie at 4; by y: 1→0, 4→1, 2→2, 3, 0, 5 tie at 3.
  auto rr = [](double rank) { return 1.0 / (2 + rank); };
  std::vector<double> zx = Z({rr(0), rr(1), rr(2), rr(3), rr(4), rr(4)});
  std::vector<double> zy = Z({rr(3), rr(0), rr(3), rr(3), rr(1), rr(2)});
  std::vector<std::pair<double, uint32_t>> want;
  for (size_t j = 0; j < 6; ++j) want.emplace_back(zx[j] + 0.5 * zy[j], c.items[j]);
  std::sort(want.begin(), want.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<Candidate> got = m.Fuse(c, 100);
  ASSERT_EQ(got.size(), 6u) << "k above the candidates: all of them";
  for (size_t r = 0; r < 6; ++r) {
    EXPECT_EQ(got[r].item, want[r].second) << r;
    EXPECT_NEAR(got[r].score, want[r].first, 1e-5) << r;
  }
  CandidateSet none;
  none.sources = 2;
  EXPECT_TRUE(m.Fuse(none, 5).empty());
}

}  // namespace
}  // namespace funnel::retrieval
