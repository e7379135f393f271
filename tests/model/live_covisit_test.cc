// The live co-visitation fold: attached to the online feature writer it follows each stored
// batch; persisted and reopened it folds only what arrived since; in every case its model's
// co-visitation is exactly the refold from the cutoff (WithEventsSinceCutoff) when events arrive
// in time order; a request in the past, a corrupt file and a file of another model version all
// fall back to the refold. Real RocksDB event store, real registry, real files.
#include "funnel/model/live_covisit.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "funnel/core/blob_file.h"
#include "funnel/features/feature_spec.h"
#include "funnel/features/online_store.h"
#include "funnel/retrieval/covisit.h"
#include "funnel/store/kv_store.h"
#include "support/covisit_model.h"
#include "support/test_store.h"

namespace funnel::model {
namespace {

using testing::TempDir;
using testing::TestStore;
constexpr double kDay = 86400;

const retrieval::CovisitSource& Covisit(const RetrievalModel& m) { return testing::CovisitOf(m); }

void ExpectSameCovisit(const RetrievalModel& got, const RetrievalModel& want) {
  const retrieval::CovisitSource &g = Covisit(got), &w = Covisit(want);
  EXPECT_EQ(g.offsets(), w.offsets());
  EXPECT_EQ(g.neighbor_ids(), w.neighbor_ids());
  EXPECT_EQ(g.neighbor_counts(), w.neighbor_counts());
  EXPECT_EQ(g.item_counts(), w.item_counts());
}

class LiveCovisitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = testing::TrainSmallCovisitModel(store_, dir_.path());
    ASSERT_NE(model_, nullptr);
  }

  // After the cutoff: a new user likes b then an upload; u0 (a, b before) likes another upload.
  void AddLater() {
    store_.Add("u20", "b", "like", 1.10 * kDay);
    store_.Add("u20", "fresh1", "like", 1.10 * kDay + 60);
    store_.Add("u0", "fresh2", "like", 1.20 * kDay);
    store_.Add("u21", "c", "skip", 1.30 * kDay);
  }

  std::shared_ptr<const RetrievalModel> Refold(Timestamp until = Timestamp::Max()) {
    auto m = WithEventsSinceCutoff(model_, store_.store(), EventsConfig{}, until);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : model_;
  }

  std::string Path() const { return LiveCovisit::PathFor(dir_.path(), model_->manifest().version); }

  TestStore store_;
  TempDir dir_;
  std::shared_ptr<const RetrievalModel> model_;
};

TEST_F(LiveCovisitTest, OpenFoldsEverythingSinceTheCutoffLikeTheRefold) {
  AddLater();
  LiveOpenReport rep;
  auto live = LiveCovisit::Open(dir_.path(), model_, store_.store(), EventsConfig{}, &rep);
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_NE(*live, nullptr);
  EXPECT_FALSE(rep.restored);
  EXPECT_EQ((*live)->watermark(), store_.store().NextSeq());
  EXPECT_EQ((*live)->positives(), 3u);  // the skip is not a positive
  ExpectSameCovisit(*(*live)->Model(), *Refold());
  // The upload liked after b has b as a neighbour now.
  const std::shared_ptr<const RetrievalModel> m = (*live)->Model();
  const auto ids = Covisit(*m).Neighbors(store_.Item("fresh1"));
  EXPECT_NE(std::find(ids.begin(), ids.end(), store_.Item("b")), ids.end());
}

TEST_F(LiveCovisitTest, AttachedToTheOnlineWriterItFollowsEachBatchAndIsPersisted) {
  auto kv = store::KvStore::Create({.backend = "memory"});
  ASSERT_TRUE(kv.ok()) << kv.status();
  auto online = features::OnlineFeatures::Open(features::DefaultFeatureSpecs(), store_.store(), std::move(*kv));
  ASSERT_TRUE(online.ok()) << online.status();
  auto live = LiveCovisit::Open(dir_.path(), model_, store_.store(), EventsConfig{});
  ASSERT_TRUE(live.ok()) << live.status();
  (*online)->Attach(live->get());
  {
    auto feeding = features::OnlineFeatures::FeedingSink(store_.store(), **online);
    std::vector<events::Event> batch;
    for (auto [user, item, day] : {std::tuple{"u20", "b", 1.10}, {"u20", "fresh1", 1.11}, {"u0", "fresh2", 1.20}}) {
      events::Event e;
      e.user = user;
      e.item = item;
      e.type = "like";
      e.ts = TestStore::At(day * kDay);
      e.id = Cat("later-", user, "-", item);
      batch.push_back(e);
    }
    auto r = feeding->Append(batch);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*live)->watermark(), store_.store().NextSeq()) << "folded with the batch";
    EXPECT_EQ((*live)->positives(), 3u);
    ASSERT_TRUE(feeding->Flush().ok());
  }
  ASSERT_TRUE((*live)->Flush().ok());
  ASSERT_TRUE(std::filesystem::exists(Path()));
  ExpectSameCovisit(*(*live)->Model(), *Refold());

  // A later process restores it and folds nothing again.
  LiveOpenReport rep;
  auto again = LiveCovisit::Open(dir_.path(), model_, store_.store(), EventsConfig{}, &rep);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(rep.restored);
  EXPECT_EQ(rep.caught_up, 0u);
  ExpectSameCovisit(*(*again)->Model(), *Refold());
}

TEST_F(LiveCovisitTest, ReopenedItFoldsOnlyWhatWasStoredSinceItsLastWrite) {
  store_.Add("u20", "b", "like", 1.10 * kDay);
  {
    auto live = LiveCovisit::Open(dir_.path(), model_, store_.store(), EventsConfig{});
    ASSERT_TRUE(live.ok()) << live.status();
    ASSERT_TRUE((*live)->Flush().ok());
  }
  // Stored behind its back (an import with --no-online, or a crash before the next write).
  store_.Add("u20", "fresh1", "like", 1.10 * kDay + 60);
  store_.Add("u0", "fresh2", "like", 1.20 * kDay);
  LiveOpenReport rep;
  auto live = LiveCovisit::Open(dir_.path(), model_, store_.store(), EventsConfig{}, &rep);
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_TRUE(rep.restored);
  EXPECT_EQ(rep.caught_up, 2u);
  ExpectSameCovisit(*(*live)->Model(), *Refold());

  CatchUpReport cr;
  auto at = LiveCovisit::ModelAt(dir_.path(), model_, store_.store(), EventsConfig{}, TestStore::At(2 * kDay), &cr);
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_TRUE(cr.live);
  EXPECT_EQ(cr.positives, 3u);
  EXPECT_EQ(cr.new_items, 2u);
  ExpectSameCovisit(**at, *Refold());
}

TEST_F(LiveCovisitTest, ARequestBeforeTheNewestFoldedEventRefoldsUpToItsTime) {
  AddLater();
  auto live = LiveCovisit::Open(dir_.path(), model_, store_.store(), EventsConfig{});
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_TRUE((*live)->Flush().ok());
  const Timestamp until = TestStore::At(1.15 * kDay);  // after fresh1, before fresh2
  CatchUpReport cr;
  auto at = LiveCovisit::ModelAt(dir_.path(), model_, store_.store(), EventsConfig{}, until, &cr);
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_FALSE(cr.live);
  ExpectSameCovisit(**at, *Refold(until));
  EXPECT_TRUE(Covisit(**at).Neighbors(store_.Item("fresh2")).empty()) << "nothing at or after the request's time";
}

TEST_F(LiveCovisitTest, ACorruptFileOrOneOfAnotherVersionIsRebuiltFromTheEventStore) {
  AddLater();
  std::filesystem::create_directories(std::filesystem::path(Path()).parent_path());
  {
    std::ofstream(Path()) << "not a blob";
  }
  LiveOpenReport rep;
  auto live = LiveCovisit::Open(dir_.path(), model_, store_.store(), EventsConfig{}, &rep);
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_FALSE(rep.restored);
  ExpectSameCovisit(*(*live)->Model(), *Refold());

  // A well-formed file that names another version under this version's name.
  BlobWriter w("covisit_live");
  w.AddString("version", "v999999");
  w.Add("head", std::vector<uint64_t>{store_.store().NextSeq(), 0, 0});
  w.Add("newest_us", std::vector<int64_t>{0});
  ASSERT_TRUE(w.Write(Path()).ok());
  auto other = LiveCovisit::Open(dir_.path(), model_, store_.store(), EventsConfig{}, &rep);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(rep.restored);
  ExpectSameCovisit(*(*other)->Model(), *Refold());
}

TEST(CovisitCountsTest, WriteThenReadContinuesTheFoldExactly) {
  retrieval::CovisitOptions o;
  retrieval::CovisitCounts whole(o, 0), first(o, 0);
  const int64_t h = 3'600'000'000;
  const std::tuple<uint32_t, uint32_t, int64_t> events[] = {{1, 10, 0}, {1, 11, h}, {2, 11, 2 * h}, {2, 12, 3 * h},
                                                            {1, 12, 4 * h}, {3, 10, 5 * h}, {2, 10, 6 * h}};
  for (size_t k = 0; k < 4; ++k) first.Add(std::get<0>(events[k]), std::get<1>(events[k]), std::get<2>(events[k]));
  for (const auto& [u, i, t] : events) whole.Add(u, i, t);
  TempDir dir;
  BlobWriter w("test");
  first.Write(w, "c.");
  ASSERT_TRUE(w.Write(dir.path() + "/c.blob").ok());
  auto r = BlobReader::Open(dir.path() + "/c.blob", "test");
  ASSERT_TRUE(r.ok()) << r.status();
  auto read = retrieval::CovisitCounts::Read(*r, "c.", o, 0);
  ASSERT_TRUE(read.ok()) << read.status();
  for (size_t k = 4; k < std::size(events); ++k)
    read->Add(std::get<0>(events[k]), std::get<1>(events[k]), std::get<2>(events[k]));
  EXPECT_EQ(read->events(), whole.events());
  ASSERT_EQ(read->num_items(), whole.num_items());
  for (uint32_t i = 0; i < whole.num_items(); ++i) {
    EXPECT_EQ(read->ItemCount(i), whole.ItemCount(i));
    const auto* a = read->Pairs(i);
    const auto* b = whole.Pairs(i);
    ASSERT_EQ(a == nullptr, b == nullptr) << i;
    if (a) {
      EXPECT_EQ(*a, *b) << i;
    }
  }
  EXPECT_FALSE(retrieval::CovisitCounts::Read(*r, "missing.", o, 0).ok());
}

}  // namespace
}  // namespace funnel::model
