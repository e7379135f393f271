// The tuner on a small generated platform in a real event store: it runs the shipped
// configuration first, keeps the best trial, is deterministic for a seed, and the pinned best
// reproduces its validation score when trained again.
#include "funnel/training/retrieval_tuner.h"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_store.h"

namespace funnel::training {
namespace {

using ::testing::HasSubstr;
using testing::TestStore;

class RetrievalTunerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    store_ = new TestStore();
    store_->ImportGenerated(/*users=*/120, /*items=*/300, /*days=*/3, /*seed=*/5);
  }
  static void TearDownTestSuite() {
    delete store_;
    store_ = nullptr;
  }
  static RetrievalTrainOptions Base() {
    RetrievalTrainOptions o;
    o.threads = 2;
    o.min_validation_users = 0;  // a small platform: these tests are about the search, not its power
    o.sources = {"popular", "trending", "covisit", "ease"};  // keeps each trial under a second
    return o;
  }
  static TuneOptions Few(int trials, uint64_t seed) {
    return {.budget_seconds = 1e6, .seed = seed, .max_trials = trials};
  }
  static inline TestStore* store_ = nullptr;
};

TEST_F(RetrievalTunerTest, KeepsTheBestTrialAndPinsItsChoices) {
  auto r = TuneRetrieval(store_->store(), {}, Base(), Few(6, 3));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->trials.size(), 6u);
  double best = -1;
  for (const TuneTrial& t : r->trials) {
    EXPECT_GT(t.objective, 0);
    EXPECT_DOUBLE_EQ(t.objective, 0.5 * (t.fused.ndcg10.mean + t.fused.recall20.mean));
    best = std::max(best, t.objective);
  }
  EXPECT_DOUBLE_EQ(r->best_objective, best);
  EXPECT_DOUBLE_EQ(r->trials[r->best_trial].objective, best);
  EXPECT_GE(r->best_objective, r->trials[0].objective) << "never worse than the shipped configuration";
  EXPECT_EQ(r->best.ease_lambdas.size(), 1u);
  EXPECT_EQ(r->best.trending_half_life_fractions.size(), 1u);
  EXPECT_EQ(r->best.rank_offsets.size(), 1u);
  EXPECT_FALSE(r->best.validate_only);

  // Trained again with the pinned values, the best trial scores the same on validation.
  RetrievalTrainOptions again = r->best;
  again.validate_only = true;
  auto t = TrainRetrieval(store_->store(), {}, Timestamp::Max(), again);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_FALSE(t->validation.empty());
  auto row = std::find_if(t->validation.begin(), t->validation.end(), [](const auto& v) { return v.name == "fusion"; });
  ASSERT_NE(row, t->validation.end());
  const auto& fused = row->metrics;
  EXPECT_NEAR(0.5 * (fused.ndcg10.mean + fused.recall20.mean), r->best_objective, 1e-9);
}

TEST_F(RetrievalTunerTest, IsDeterministicForASeedAndDiffersAcrossSeeds) {
  auto a = TuneRetrieval(store_->store(), {}, Base(), Few(3, 7));
  auto b = TuneRetrieval(store_->store(), {}, Base(), Few(3, 7));
  auto c = TuneRetrieval(store_->store(), {}, Base(), Few(3, 8));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a->trials[i].params, b->trials[i].params);
    EXPECT_DOUBLE_EQ(a->trials[i].objective, b->trials[i].objective);
  }
  EXPECT_EQ(a->trials[0].params, c->trials[0].params) << "trial 0 is the shipped configuration";
  EXPECT_NE(a->trials[1].params, c->trials[1].params);
}

TEST_F(RetrievalTunerTest, TomlNamesEveryTunedKey) {
  RetrievalTrainOptions o = Base();
  o.ease_lambdas = {123.5};
  o.covisit.max_gap = 7;
  const std::string toml = RetrievalOptionsToml(o);
  EXPECT_THAT(toml, HasSubstr("sources = [\"popular\", \"trending\", \"covisit\", \"ease\"]"));
  EXPECT_THAT(toml, HasSubstr("ease_lambdas = [123.5]"));
  EXPECT_THAT(toml, HasSubstr("[retrieval.covisit]\nwindow_hours"));
  EXPECT_THAT(toml, HasSubstr("max_gap = 7"));
}

TEST_F(RetrievalTunerTest, AnEmptyStoreIsRefused) {
  TestStore empty;
  auto r = TuneRetrieval(empty.store(), {}, Base(), Few(2, 1));
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace funnel::training
