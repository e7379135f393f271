// The one ingest path on real RocksDB stores in a temporary data directory: the event store
// first, then the online features, then the current model's live co-visitation, each written
// by Close().
#include "funnel/serving/ingest_pipeline.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "funnel/model/live_covisit.h"
#include "funnel/model/model_registry.h"
#include "funnel/serving/data_dir.h"
#include "funnel/training/retrieval_trainer.h"
#include "support/builtin_sources.h"
#include "support/temp_dir.h"

namespace funnel::serving {
namespace {

constexpr int64_t kT0 = 1'700'000'000;

events::Event Like(const std::string& user, const std::string& item, double offset_seconds, const std::string& id) {
  events::Event e;
  e.user = user;
  e.item = item;
  e.type = "like";
  e.ts = Timestamp::FromSeconds(kT0 + offset_seconds);
  e.id = id;
  return e;
}

TEST(IngestPipelineTest, EventsAreDurableAndFoldedIntoTheOnlineFeaturesByClose) {
  testing::TempDir dir;
  const std::string data = dir / "data";
  {
    auto ingest = IngestPipeline::Open(data, testing::BuiltinSourceRegistry(), Config{});
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    ASSERT_NE((*ingest)->online(), nullptr);
    EXPECT_EQ((*ingest)->live_covisit(), nullptr) << "no model yet";
    std::vector<events::Event> batch = {Like("u1", "a", 0, "e1"), Like("u1", "b", 60, "e2"), Like("u2", "a", 90, "e3")};
    auto r = (*ingest)->sink().Append(batch);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->accepted, 3u);
    auto again = (*ingest)->sink().Append(batch);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->accepted, 0u) << "idempotent on id";
    ASSERT_TRUE((*ingest)->Close().ok());
  }
  // Another process opens what the pipeline left: every event, and online features that need
  // no catching up.
  auto store = OpenEventStore(data, Config{}, /*read_only=*/true);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Stats().events, 3u);
  features::OnlineOpenReport rep;
  auto online = OpenOnlineFeatures(data, Config{}, **store, &rep);
  ASSERT_TRUE(online.ok()) << online.status();
  EXPECT_EQ(rep.caught_up, 0u);
  EXPECT_EQ((*online)->watermark(), (*store)->NextSeq());
}

TEST(IngestPipelineTest, WithOnlineUpdatesOffOnlyTheEventStoreIsWritten) {
  testing::TempDir dir;
  const std::string data = dir / "data";
  {
    auto ingest = IngestPipeline::Open(data, testing::BuiltinSourceRegistry(), Config{}, {.online = false});
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    EXPECT_EQ((*ingest)->online(), nullptr);
    std::vector<events::Event> batch = {Like("u1", "a", 0, "e1")};
    ASSERT_TRUE((*ingest)->sink().Append(batch).ok());
    ASSERT_TRUE((*ingest)->Close().ok());
  }
  EXPECT_TRUE(std::filesystem::exists(data + "/events/CURRENT"));
  EXPECT_FALSE(std::filesystem::exists(data + "/online"));
}

TEST(IngestPipelineTest, WithATrainedModelEventsPastItsCutoffReachItsLiveCovisitation) {
  testing::TempDir dir;
  const std::string data = dir / "data";
  {
    auto ingest = IngestPipeline::Open(data, testing::BuiltinSourceRegistry(), Config{});
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    std::vector<events::Event> batch;
    for (int u = 0; u < 5; ++u) {
      batch.push_back(Like("u" + std::to_string(u), "a", 100.0 * u, "a" + std::to_string(u)));
      batch.push_back(Like("u" + std::to_string(u), "b", 100.0 * u + 30, "b" + std::to_string(u)));
    }
    ASSERT_TRUE((*ingest)->sink().Append(batch).ok());
    ASSERT_TRUE((*ingest)->Close().ok());
  }
  std::string version;
  {
    auto store = OpenEventStore(data, Config{}, /*read_only=*/true);
    ASSERT_TRUE(store.ok());
    training::RetrievalTrainOptions o;
    o.sources = {"popular", "covisit"};
    o.tune = false;
    auto trained = training::TrainRetrieval(**store, EventsConfig{}, Timestamp::Max(), o);
    ASSERT_TRUE(trained.ok()) << trained.status();
    auto registry = model::ModelRegistry::Open(data, testing::BuiltinSourceRegistry());
    ASSERT_TRUE(registry.ok());
    auto v = registry->Register(*trained, **store);
    ASSERT_TRUE(v.ok()) << v.status();
    version = *v;
  }
  auto ingest = IngestPipeline::Open(data, testing::BuiltinSourceRegistry(), Config{});
  ASSERT_TRUE(ingest.ok()) << ingest.status();
  ASSERT_NE((*ingest)->live_covisit(), nullptr);
  std::vector<events::Event> later = {Like("u9", "a", 5000, "l1"), Like("u9", "new", 5030, "l2")};
  ASSERT_TRUE((*ingest)->sink().Append(later).ok());
  ASSERT_TRUE((*ingest)->Close().ok());
  EXPECT_EQ((*ingest)->live_covisit()->positives(), 2u);
  EXPECT_EQ((*ingest)->live_covisit()->watermark(), (*ingest)->store().NextSeq());
  EXPECT_TRUE(std::filesystem::exists(model::LiveCovisit::PathFor(data, version)));
}

TEST(IngestPipelineTest, ReadOnlyOpensOfADirectoryWithoutAStoreCreateNothing) {
  testing::TempDir dir;
  const std::string data = dir / "nope";
  auto store = OpenEventStore(data, Config{}, /*read_only=*/true);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsNotFound(store.status()));
  EXPECT_NE(store.status().message().find("no event store in"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(data));
}

}  // namespace
}  // namespace funnel::serving
