// The ranking stage's training on crafted validation candidates with a known answer: when what
// users engage with is told by a source the fusion ignores, every ranker kind beats the fusion
// on every window (each judged by rankers learned on the others) and the best one serves; when
// the fusion already orders perfectly, none can beat it and the fusion stays; with a single
// window there is nothing to judge on.
#include "funnel/training/ranker_trainer.h"

#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/retrieval/popularity.h"

namespace funnel::training {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint32_t kCandidates = 60;

std::shared_ptr<const retrieval::Source> Fixed(std::string name) {
  return retrieval::PopularitySource::FromScores(std::move(name), std::vector<float>(kCandidates, 0));
}

struct Crafted {
  std::vector<retrieval::CandidateSet> sets;
  std::vector<std::vector<ItemIdx>> truths;
  retrieval::UserState user;
  retrieval::Merger merger{{{Fixed("a"), 100, 1.0}, {Fixed("b"), 100, 0.0}}, 1000,
                           {.normalization = retrieval::FusionOptions::kScore}};
  std::vector<RankerExample> examples;
};

// Users 0..299, window 1 for the first 200 and 0 (the newest) for the rest. Each has 60
// candidates with random scores from a (the fusion's only source) and b; the user engages with
// the 5 best by `truth_by` (0: a, 1: b).
void Build(Crafted* c, size_t truth_by, const std::vector<int>& windows_of_users) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  const size_t users = windows_of_users.size();
  c->sets.resize(users);
  c->truths.resize(users);
  for (size_t i = 0; i < users; ++i) {
    retrieval::CandidateSet& s = c->sets[i];
    s.sources = 2;
    std::vector<std::pair<float, uint32_t>> by;
    for (uint32_t j = 0; j < kCandidates; ++j) {
      s.items.push_back(j);
      s.found_by.push_back(0b11);
      const float a = u(rng), b = u(rng);
      s.scores.push_back(a);
      s.scores.push_back(b);
      by.push_back({truth_by == 0 ? a : b, j});
    }
    std::sort(by.rbegin(), by.rend());
    for (size_t k = 0; k < 5; ++k) c->truths[i].push_back(ItemIdx{by[k].second});
    std::sort(c->truths[i].begin(), c->truths[i].end());
  }
  for (size_t i = 0; i < users; ++i)
    c->examples.push_back({&c->sets[i], &c->user, &c->truths[i], &c->merger, windows_of_users[i]});
}

std::vector<int> TwoWindows() {
  std::vector<int> w(300, 1);
  std::fill(w.begin() + 200, w.end(), 0);
  return w;
}

RankerTrainOptions Small() {
  RankerTrainOptions o;
  o.rankers = {"logistic", "gbdt", "lambdamart"};  // every kind, the shipped two and lambdamart
  o.trees = 60;
  o.early_stopping_rounds = 10;
  return o;
}

TEST(RankerTrainerTest, ASignalTheFusionIgnoresMakesEveryKindBeatItAndTheBestServes) {
  Crafted c;
  Build(&c, /*truth_by=*/1, TwoWindows());
  StatusOr<TrainedRanker> r = TrainRanker(c.examples, Small(), 2);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(r->ranker, nullptr) << r->verdict;
  EXPECT_THAT(r->verdict, StartsWith("ranker "));
  EXPECT_THAT(r->verdict, HasSubstr("over the fusion on the validation windows (300 users, 2 windows)"));
  ASSERT_EQ(r->validation.size(), 4u);
  EXPECT_EQ(r->validation[0].name, "fusion, validation windows");
  const double fusion = r->validation[0].metrics.ndcg10.mean;
  EXPECT_LT(fusion, 0.3) << "a is unrelated to what users engage with";
  for (size_t k = 1; k < 4; ++k) {
    EXPECT_GT(r->validation[k].metrics.ndcg10.mean, 0.9) << r->validation[k].name << " learns to order by b";
    EXPECT_EQ(r->validation[k].metrics.users, 300u) << "every window's users, judged by the other window's ranker";
  }
  EXPECT_EQ(r->ranker->depth(), 200u);
  EXPECT_EQ(r->ranker->features().size(), 11u);
}

TEST(RankerTrainerTest, WhenTheFusionIsAlreadyPerfectItStays) {
  Crafted c;
  Build(&c, /*truth_by=*/0, TwoWindows());
  StatusOr<TrainedRanker> r = TrainRanker(c.examples, Small(), 2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->ranker, nullptr);
  EXPECT_DOUBLE_EQ(r->validation[0].metrics.ndcg10.mean, 1.0);
  EXPECT_THAT(r->verdict, StartsWith("the fusion serves: no ranker beat it on the validation windows (300 users"));
}

TEST(RankerTrainerTest, OneWindowOrNoKindsMeansNoRanker) {
  Crafted c;
  Build(&c, 1, std::vector<int>(50, 0));
  StatusOr<TrainedRanker> r = TrainRanker(c.examples, Small(), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ranker, nullptr);
  EXPECT_THAT(r->verdict, HasSubstr("needs two validation windows"));
  RankerTrainOptions none = Small();
  none.rankers.clear();
  Crafted d;
  Build(&d, 1, TwoWindows());
  r = TrainRanker(d.examples, none, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ranker, nullptr);
  EXPECT_THAT(r->verdict, HasSubstr("[ranking] rankers is empty"));
}

}  // namespace
}  // namespace funnel::training
