// The request path's shortcuts (retrieval_latency_bench found them) against their simple twins:
// co-visitation scoring by one walk over the seeds' neighbour lists, EASE scoring of a few
// columns, the iALS fold-in reused between Retrieve and Score, reciprocal ranks with ties.
// Each must give the same numbers, bit for bit, as the computation it replaces.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "funnel/retrieval/cf_sources.h"
#include "funnel/retrieval/covisit.h"
#include "funnel/retrieval/ease.h"
#include "funnel/retrieval/merger.h"
#include "funnel/retrieval/training_set.h"

namespace funnel::retrieval {
namespace {

CsrMatrix RandomInteractions(uint32_t users, uint32_t items, double density, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution take(density);
  std::uniform_int_distribution<int> strength(-2, 6);
  std::vector<Triplet> triplets;
  for (uint32_t u = 0; u < users; ++u)
    for (uint32_t i = 0; i < items; ++i)
      if (take(rng)) triplets.push_back({u, i, static_cast<float>(strength(rng))});
  return CsrMatrix::FromTriplets(users, items, std::move(triplets));
}

// A user state holding user u's row of m, its first `recent` items as recent positives.
UserState StateOf(const CsrMatrix& m, uint32_t u, size_t recent = 0) {
  UserState st;
  st.user = u;
  auto idx = m.RowIndices(u);
  auto val = m.RowValues(u);
  st.items.assign(idx.begin(), idx.end());
  st.strengths.assign(val.begin(), val.end());
  for (size_t k = 0; k < idx.size() && st.recent.size() < recent; ++k) st.recent.push_back(idx[k]);
  return st;
}

// The co-visitation pair weight c(a, b) by binary search in a's list; 0 when absent.
float PairOf(const CovisitSource& s, uint32_t a, uint32_t b) {
  auto ids = s.Neighbors(a);
  auto it = std::lower_bound(ids.begin(), ids.end(), b);
  return it == ids.end() || *it != b ? 0.0f : s.NeighborCounts(a)[it - ids.begin()];
}

TEST(RequestPathTest, CovisitScoreEqualsTheSumOfPairLookupsBitForBit) {
  // Random neighbour lists over 300 items (sorted by item index, as Build stores them).
  const uint32_t n = 300;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> score(0.01f, 1.0f);
  std::vector<uint64_t> offsets = {0};
  std::vector<uint32_t> ids;
  std::vector<float> scores;
  for (uint32_t a = 0; a < n; ++a) {
    std::vector<uint32_t> row;
    for (uint32_t b = 0; b < n; ++b)
      if (b != a && rng() % 10 == 0) row.push_back(b);
    for (uint32_t b : row) {
      ids.push_back(b);
      scores.push_back(score(rng));
    }
    offsets.push_back(ids.size());
  }
  std::vector<float> item_counts(n);
  for (float& c : item_counts) c = static_cast<float>(1 + rng() % 50);
  CovisitOptions options;
  options.recent_items = 12;
  auto source = CovisitSource::FromLists(offsets, ids, scores, item_counts, options, 0);
  // n^-½ of a seed, n^-β of a candidate, as the source rounds them (0 outside the model).
  auto seed_norm = [&](uint32_t a) { return a < n ? static_cast<float>(1 / std::sqrt(double{item_counts[a]})) : 0.0f; };
  auto candidate_norm = [&](uint32_t b) {
    return b < n ? static_cast<float>(std::pow(double{item_counts[b]}, -options.popularity_exponent)) : 0.0f;
  };

  UserState user;
  for (uint32_t r = 0; r < 15; ++r) user.recent.push_back((r * 37 + 5) % n);  // more seeds than are used
  user.recent.push_back(n + 7);                                                // a seed the model never saw
  std::vector<uint32_t> items;
  for (uint32_t i = 0; i < n; i += 3) items.push_back(i);
  items.push_back(n + 100);    // unknown item
  items.push_back(items[4]);   // duplicate
  std::vector<float> got(items.size());
  source->Score(user, items, Timestamp::FromSeconds(0), got);

  const size_t seeds = std::min(user.recent.size(), static_cast<size_t>(options.recent_items));
  size_t nonzero = 0;
  for (size_t j = 0; j < items.size(); ++j) {
    double w = 1, s = 0;
    for (size_t r = 0; r < seeds; ++r, w *= options.recency)
      s += (w * seed_norm(user.recent[r])) * PairOf(*source, user.recent[r], items[j]);
    EXPECT_EQ(got[j], static_cast<float>(s * candidate_norm(items[j]))) << "item " << items[j];
    nonzero += s != 0;
  }
  EXPECT_GT(nonzero, items.size() / 2);  // the comparison covered real sums, not only zeros
  EXPECT_EQ(got[items.size() - 2], 0.0f);
}

TEST(RequestPathTest, TiedScoresShareTheBestRankOfTheirRun) {
  CandidateSet c;
  c.sources = 2;
  // Column 0: runs of ties among distinct values; column 1: every candidate alike (a cold source).
  const std::vector<float> col0 = {3, 1, 3, 2, 1, 1, 5, 2, 3, 0, 0, 1};
  for (size_t j = 0; j < col0.size(); ++j) {
    c.items.push_back(static_cast<uint32_t>(j));
    c.scores.push_back(col0[j]);
    c.scores.push_back(0.5f);
  }
  CandidateSet want = c;
  RankColumns(&c, 10);
  // The definition, spelled out: rank = how many candidates score strictly higher.
  for (size_t s = 0; s < 2; ++s)
    for (size_t j = 0; j < want.items.size(); ++j) {
      size_t higher = 0;
      for (size_t k = 0; k < want.items.size(); ++k) higher += want.Score(k, s) > want.Score(j, s);
      EXPECT_EQ(c.Score(j, s), static_cast<float>(1.0 / (10.0 + static_cast<double>(higher)))) << s << " " << j;
    }
}

TEST(RequestPathTest, EaseColumnsEqualTheFullScoreVectorBitForBit) {
  CsrMatrix m = RandomInteractions(120, 70, 0.12, 4);
  for (bool binarize : {true, false}) {
    auto model = TrainEase(m, {.lambda = 5, .binarize = binarize});
    ASSERT_TRUE(model.ok()) << model.status();
    EaseOptions options{.binarize = binarize};
    for (uint32_t u : {0u, 7u, 33u}) {
      UserState st = StateOf(m, u);
      ASSERT_FALSE(st.items.empty());
      std::vector<float> full(model->num_items());
      ScoreEase(*model, options, st.items, st.strengths, full);
      std::vector<uint32_t> columns = {69, 0, 12, UINT32_MAX, 12, 41};
      std::vector<float> got(columns.size());
      ScoreEaseColumns(*model, options, st.items, st.strengths, columns, got);
      for (size_t j = 0; j < columns.size(); ++j)
        EXPECT_EQ(got[j], columns[j] == UINT32_MAX ? 0.0f : full[columns[j]]) << "binarize " << binarize << " column " << j;
    }
  }
}

TEST(RequestPathTest, EaseSourceScoresWhatItRetrievesWithTheSameNumbers) {
  TrainingSet ts;
  ts.num_users = 150;
  ts.num_items = 90;
  ts.user_items = RandomInteractions(ts.num_users, 80, 0.1, 5);  // items 80..89: never seen
  ts.user_items.cols = ts.num_items;
  for (uint32_t i = 0; i < 80; ++i) ts.catalog.push_back(i);
  auto source = EaseSource::Build(ts, {.lambda = 10});
  ASSERT_TRUE(source.ok()) << source.status();
  UserState st = StateOf(ts.user_items, 3);
  std::vector<Candidate> top;
  (*source)->Retrieve(st, {.k = 30, .now = Timestamp::FromSeconds(0)}, &top);
  ASSERT_EQ(top.size(), 30u);
  std::vector<uint32_t> items;
  for (const Candidate& c : top) items.push_back(c.item);
  items.push_back(85);   // outside the model
  items.push_back(500);  // outside the store
  std::vector<float> got(items.size());
  (*source)->Score(st, items, Timestamp::FromSeconds(0), got);
  for (size_t j = 0; j < top.size(); ++j) EXPECT_EQ(got[j], top[j].score) << "item " << top[j].item;
  EXPECT_EQ(got[top.size()], 0.0f);
  EXPECT_EQ(got[top.size() + 1], 0.0f);
}

// The iALS score of `items` from a fresh fold-in: the twin of IalsSource::Score.
std::vector<float> FreshIalsScores(const IalsModel& model, const IalsOptions& options, const UserState& st,
                                   const std::vector<uint32_t>& items) {
  std::vector<float> v(model.factors());
  FoldInUser(model, options, st.items, st.strengths, v);
  std::vector<float> out;
  for (uint32_t i : items)
    out.push_back(Eigen::Map<const Eigen::VectorXf>(v.data(), v.size()).dot(model.item_factors.row(i).transpose()));
  return out;
}

TEST(RequestPathTest, IalsScoreFoldsInTheStateItIsGivenWhateverCameBefore) {
  TrainingSet ts;
  ts.num_users = 200;
  ts.num_items = 120;
  ts.user_items = RandomInteractions(ts.num_users, ts.num_items, 0.08, 6);
  IalsOptions options{.factors = 8, .iterations = 4, .regularization = 0.5, .alpha = 2, .threads = 1};
  auto a = IalsSource::Build(ts, options, AnnOptions{});
  options.seed = 43;  // a second model: its own vectors for the same state
  auto b = IalsSource::Build(ts, options, AnnOptions{});
  ASSERT_TRUE(a.ok() && b.ok());
  IalsOptions a_options = options, b_options = options;
  a_options.seed = 42;

  UserState u1 = StateOf(ts.user_items, 1), u2 = StateOf(ts.user_items, 2);
  const std::vector<uint32_t> items = {0, 5, 17, 64, 119};
  std::vector<float> got(items.size());
  std::vector<Candidate> top;
  auto expect_fresh = [&](const IalsSource& s, const IalsOptions& o, const UserState& st, const char* when) {
    s.Score(st, items, Timestamp::FromSeconds(0), got);
    EXPECT_EQ(got, FreshIalsScores(s.model(), o, st, items)) << when;
  };
  (*a)->Retrieve(u1, {.k = 10, .now = Timestamp::FromSeconds(0)}, &top);
  expect_fresh(**a, a_options, u1, "same state after Retrieve");
  expect_fresh(**a, a_options, u2, "another user after Retrieve");
  (*b)->Retrieve(u2, {.k = 10, .now = Timestamp::FromSeconds(0)}, &top);
  expect_fresh(**a, a_options, u2, "same state, after another source's Retrieve");
  u2.strengths[0] *= 3;  // the state changed in place: a new event since
  expect_fresh(**a, a_options, u2, "state changed in place");
  u2.items.pop_back();
  u2.strengths.pop_back();
  expect_fresh(**b, b_options, u2, "state shrank in place");
  EXPECT_NE(FreshIalsScores((*a)->model(), a_options, u2, items), FreshIalsScores((*b)->model(), b_options, u2, items));
}

}  // namespace
}  // namespace funnel::retrieval
