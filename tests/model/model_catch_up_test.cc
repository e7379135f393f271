// Events after a model's cutoff reach its co-visitation source without retraining: a pair
// formed after training, and an upload the model never saw, get candidates; a user's trained
// engagements pair with their later ones; nothing at or after `until` is folded, and with
// nothing to fold the model is returned as it was. Real RocksDB event store, real registry.
#include "funnel/model/model_catch_up.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "funnel/retrieval/covisit.h"
#include "support/covisit_model.h"
#include "support/test_store.h"

namespace funnel::model {
namespace {

using testing::TempDir;
using testing::TestStore;
constexpr double kDay = 86400;

class ModelCatchUpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = testing::TrainSmallCovisitModel(store_, dir_.path());
    ASSERT_NE(model_, nullptr);

    // After the cutoff (day 1): a new user likes b, then fresh1 (an upload the model never saw); u0, who liked
    // a and b before the cutoff, likes fresh2; a skip is not a positive.
    store_.Add("u20", "b", "like", 1.10 * kDay);
    store_.Add("u20", "fresh1", "like", 1.10 * kDay + 60);
    store_.Add("u0", "fresh2", "like", 1.20 * kDay);
    store_.Add("u21", "c", "skip", 1.30 * kDay);
  }

  static const retrieval::CovisitSource& Covisit(const RetrievalModel& m) { return testing::CovisitOf(m); }
  // Co-visitation candidates of a user whose newest positive is `seed`.
  std::vector<uint32_t> CandidatesAfter(const RetrievalModel& m, const std::string& seed) {
    retrieval::UserState u;
    u.recent = {store_.Item(seed)};
    u.exclude = {store_.Item(seed)};
    std::vector<retrieval::Candidate> top;
    Covisit(m).Retrieve(u, {.k = 10, .now = TestStore::At(2 * kDay)}, &top);
    std::vector<uint32_t> items;
    for (const auto& c : top) items.push_back(c.item);
    return items;
  }
  bool Has(const std::vector<uint32_t>& items, const std::string& id) {
    return std::find(items.begin(), items.end(), store_.Item(id)) != items.end();
  }

  TestStore store_;
  TempDir dir_;
  std::shared_ptr<const RetrievalModel> model_;
};

TEST_F(ModelCatchUpTest, PairsAndUploadsAfterTheCutoffGetCandidatesWithoutRetraining) {
  CatchUpReport report;
  auto updated = WithEventsSinceCutoff(model_, store_.store(), EventsConfig{}, TestStore::At(2 * kDay), &report);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(report.events, 4u);
  EXPECT_EQ(report.positives, 3u) << "the skip is not a positive";
  EXPECT_EQ(report.new_items, 2u);

  EXPECT_FALSE(Has(CandidatesAfter(*model_, "b"), "fresh1")) << "the trained model cannot know it";
  EXPECT_TRUE(Has(CandidatesAfter(**updated, "b"), "fresh1"));
  EXPECT_TRUE(Has(CandidatesAfter(**updated, "fresh1"), "b"));
  // u0's fresh2 pairs with u0's b from before the cutoff (the user's trained sequence seeds it).
  EXPECT_TRUE(Has(CandidatesAfter(**updated, "fresh2"), "b"));
  EXPECT_TRUE(Has(CandidatesAfter(**updated, "a"), "b")) << "trained pairs stay";
  EXPECT_EQ((*updated)->manifest().version, model_->manifest().version);
}

TEST_F(ModelCatchUpTest, NothingAtOrAfterUntilIsFoldedAndNothingToFoldKeepsTheModel) {
  CatchUpReport report;
  auto partial = WithEventsSinceCutoff(model_, store_.store(), EventsConfig{}, TestStore::At(1.15 * kDay), &report);
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_EQ(report.positives, 2u);
  EXPECT_TRUE(Has(CandidatesAfter(**partial, "b"), "fresh1"));
  EXPECT_EQ(Covisit(**partial).num_items(), store_.Item("fresh1") + 1) << "fresh2 came later";

  auto same = WithEventsSinceCutoff(model_, store_.store(), EventsConfig{}, TestStore::At(0.5 * kDay), &report);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->get(), model_.get()) << "until before the cutoff: nothing to fold";
  EXPECT_EQ(report.positives, 0u);
}

}  // namespace
}  // namespace funnel::model
