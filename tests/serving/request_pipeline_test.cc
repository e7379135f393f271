// The request path on a real RocksDB store and a registered model: the default request time,
// the lists against the merger's own, unknown users, exclusions, explain, and the model handle.
#include "funnel/serving/request_pipeline.h"

#include <atomic>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/model/model_registry.h"
#include "support/covisit_model.h"
#include "support/test_store.h"

namespace funnel::serving {
namespace {

using ::testing::ElementsAre;
using testing::TestStore;

class RequestPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = testing::TrainSmallCovisitModel(store_, store_.dir().path());
    ASSERT_NE(model_, nullptr);
    handle_.Publish(model_);
  }

  std::vector<std::string> Items(const Recommendation& r) {
    std::vector<std::string> out;
    for (const RecommendedItem& it : r.items) out.push_back(it.item);
    return out;
  }

  TestStore store_;
  std::shared_ptr<const model::RetrievalModel> model_;
  ModelHandle handle_;
};

TEST_F(RequestPipelineTest, ARequestWithoutTimeIsAnsweredJustPastTheNewestStoredEvent) {
  // Later events than the model's cutoff, as a live store has them.
  store_.Add("u20", "a", "like", 3 * TestStore::kDay);
  RequestPipeline p(store_.store(), handle_, EventsConfig{});
  auto r = p.Recommend({.user = "u20", .k = 3});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->at, Timestamp::FromMicros(TestStore::At(3 * TestStore::kDay).micros() + 1));
  EXPECT_EQ(r->at, DefaultRequestTime(store_.store()));
  EXPECT_TRUE(r->known_user()) << "its event at the newest time is before the request time";
  auto explicit_time = p.Recommend({.user = "u20", .k = 3, .at = r->at});
  ASSERT_TRUE(explicit_time.ok());
  EXPECT_EQ(Items(*explicit_time), Items(*r));
}

TEST_F(RequestPipelineTest, ListsAreTheMergersFusedListWithRanksFromOne) {
  RequestPipeline p(store_.store(), handle_, EventsConfig{});
  const Timestamp at = TestStore::At(2 * TestStore::kDay);
  auto r = p.Recommend({.user = "u0", .k = 5, .at = at});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model_version, model_->manifest().version);

  retrieval::StrengthRule rule(store_.store(), EventsConfig{}, model_->manifest().data);
  auto state = retrieval::BuildUserState(store_.store(), rule, UserIdx{store_.User("u0")}, at,
                                         model_->manifest().data.recent_items);
  ASSERT_TRUE(state.ok());
  retrieval::CandidateSet c = model_->merger().Candidates(*state, at);
  std::vector<retrieval::Candidate> want = model_->merger().Fuse(c, 5);
  ASSERT_EQ(r->items.size(), want.size());
  EXPECT_EQ(r->candidates, c.items.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(r->items[k].item, store_.store().ItemName(ItemIdx{want[k].item}));
    EXPECT_EQ(r->items[k].score, want[k].score);
    EXPECT_EQ(r->items[k].rank, k + 1);
    EXPECT_TRUE(r->items[k].sources.empty()) << "explain is off";
  }
}

TEST_F(RequestPipelineTest, UnknownUsersAreExpectedAndGetTheListsThatNeedNoHistory) {
  RequestPipeline p(store_.store(), handle_, EventsConfig{});
  auto r = p.Recommend({.user = "nobody", .k = 2, .at = TestStore::At(TestStore::kDay)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->known_user());
  EXPECT_EQ(r->items.size(), 2u);
}

TEST_F(RequestPipelineTest, ExcludedItemsNeverAppearAndUnknownExclusionsAreIgnored) {
  RequestPipeline p(store_.store(), handle_, EventsConfig{});
  const Timestamp at = TestStore::At(TestStore::kDay);
  auto all = p.Recommend({.user = "nobody", .k = 4, .at = at});
  ASSERT_TRUE(all.ok());
  ASSERT_FALSE(all->items.empty());
  const std::string first = all->items.front().item;
  auto r = p.Recommend({.user = "nobody", .k = 4, .at = at, .exclude = {first, "no-such-item"}});
  ASSERT_TRUE(r.ok()) << r.status();
  for (const RecommendedItem& it : r->items) EXPECT_NE(it.item, first);
}

TEST_F(RequestPipelineTest, ExplainGivesEverySourcesScoreAndWhichOnesRetrievedTheItem) {
  RequestPipeline p(store_.store(), handle_, EventsConfig{});
  // After the cutoff u30 likes a: co-visitation retrieves its neighbour b, popularity the rest.
  store_.Add("u30", "a", "like", 1.5 * TestStore::kDay);
  auto r = p.Recommend({.user = "u30", .k = 3, .at = TestStore::At(2 * TestStore::kDay), .explain = true});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->items.empty());
  EXPECT_EQ(r->items.front().item, "b") << "a's co-visited neighbour";
  for (const RecommendedItem& it : r->items) {
    ASSERT_EQ(it.sources.size(), 2u);
    EXPECT_EQ(it.sources[0].source, "popular");
    EXPECT_EQ(it.sources[1].source, "covisit");
    EXPECT_TRUE(it.sources[0].retrieved || it.sources[1].retrieved) << it.item;
  }
  EXPECT_TRUE(r->items.front().sources[1].retrieved);
  EXPECT_GT(r->items.front().sources[1].score, 0);
}

TEST_F(RequestPipelineTest, WithoutAPublishedModelARequestFailsWithAReason) {
  ModelHandle empty;
  RequestPipeline p(store_.store(), empty, EventsConfig{});
  auto r = p.Recommend({.user = "u0"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  RequestPipeline q(store_.store(), handle_, EventsConfig{});
  EXPECT_TRUE(absl::IsInvalidArgument(q.Recommend({.user = "u0", .k = 0}).status()));
}

TEST_F(RequestPipelineTest, APublishedModelServesTheNextRequest) {
  RequestPipeline p(store_.store(), handle_, EventsConfig{});
  auto before = p.Recommend({.user = "u0", .k = 2, .at = TestStore::At(TestStore::kDay)});
  ASSERT_TRUE(before.ok());
  auto registry = model::ModelRegistry::Open(store_.dir().path(), testing::BuiltinSourceRegistry());
  ASSERT_TRUE(registry.ok());
  auto second = testing::TrainSmallCovisitModel(store_, store_.dir().path());
  ASSERT_NE(second, nullptr);
  ASSERT_NE(second->manifest().version, before->model_version);
  handle_.Publish(second);
  auto after = p.Recommend({.user = "u0", .k = 2, .at = TestStore::At(TestStore::kDay)});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->model_version, second->manifest().version);
}

TEST(ModelHandleTest, ReadersAlwaysSeeAWholePublishedModelWhilePublishesRace) {
  TestStore store;
  auto m1 = testing::TrainSmallCovisitModel(store, store.dir().path());
  auto m2 = testing::TrainSmallCovisitModel(store, store.dir().path());
  ASSERT_NE(m1, nullptr);
  ASSERT_NE(m2, nullptr);
  ModelHandle handle(m1);
  const std::set<std::string> versions = {m1->manifest().version, m2->manifest().version};
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto m = handle.Get();
      if (m == nullptr || !versions.count(m->manifest().version) || m->merger().slots().size() != 2) ++bad;
    }
  });
  for (int i = 0; i < 20000; ++i) handle.Publish(i % 2 ? m1 : m2);
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(m1.use_count(), 2) << "only the test and the handle hold it once the reader is done";
}

}  // namespace
}  // namespace funnel::serving
