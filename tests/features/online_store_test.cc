// OnlineFeatures on every backend: what the writer folds is persisted, survives restarts and
// crashes, is never applied twice, and reads the same from a shared redis in another "process".
#include "funnel/features/online_store.h"

#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "support/redis_server.h"
#include "support/temp_dir.h"

namespace funnel::features {
namespace {

using testing::RedisServer;
using testing::TempDir;

constexpr double kT0 = 1700000000;

events::Event Ev(std::string user, std::string item, std::string type, double ts,
                 std::optional<double> value = std::nullopt, std::string id = "") {
  events::Event e;
  e.user = std::move(user);
  e.item = std::move(item);
  e.type = std::move(type);
  e.ts = Timestamp::FromSeconds(ts);
  e.value = value;
  e.id = std::move(id);
  return e;
}

// A small stream over 30 users, 40 items in 5 categories, every standard type, in time order.
std::vector<events::Event> Stream(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  const char* types[] = {"impression", "click", "watch", "like", "skip", "share", "dislike"};
  std::vector<events::Event> out;
  for (int k = 0; k < n; ++k) {
    const char* type = types[rng() % 7];
    std::optional<double> value;
    if (std::string_view(type) == "watch") value = 1.0 + rng() % 60;
    out.push_back(Ev(Cat("u", rng() % 30), Cat("v", rng() % 40), type, kT0 + k * 37.0, value, Cat("e", k)));
  }
  return out;
}

std::vector<events::Item> Items() {
  std::vector<events::Item> out;
  for (int i = 0; i < 40; ++i) {
    events::Item it;
    it.item = Cat("v", i);
    it.categories = {Cat("cat", i % 5)};
    if (i % 3 == 0) it.categories.push_back(Cat("cat", (i + 1) % 5));
    it.creator = Cat("c", i % 7);
    it.ts = Timestamp::FromSeconds(kT0 - 3600.0 * i);
    it.attributes = Cat(R"({"duration":)", 10 + i, "}");
    out.push_back(std::move(it));
  }
  return out;
}

std::vector<std::string> AllItems() {
  std::vector<std::string> v;
  for (int i = 0; i < 42; ++i) v.push_back(Cat("v", i));  // v40, v41 are unknown on purpose
  return v;
}

bool SameBits(const FeatureMatrix& a, const FeatureMatrix& b) {
  return a.rows == b.rows && a.cols == b.cols &&
         std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0;
}

std::unique_ptr<store::EventStore> OpenStore(const std::string& path) {
  auto s = store::EventStore::Open({.path = path});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<store::KvStore> Kv(store::KvOptions o) {
  auto kv = store::KvStore::Create(o);
  EXPECT_TRUE(kv.ok()) << kv.status();
  return kv.ok() ? std::move(*kv) : nullptr;
}

std::unique_ptr<OnlineFeatures> OpenOnline(const store::EventStore& store, store::KvOptions o,
                                           OnlineOpenReport* report = nullptr) {
  auto online = OnlineFeatures::Open(DefaultFeatureSpecs(), store, Kv(o), report);
  EXPECT_TRUE(online.ok()) << online.status();
  return online.ok() ? std::move(*online) : nullptr;
}

FeatureMatrix Features(const OnlineFeatures& online, const std::string& user, double t) {
  auto items = AllItems();
  auto m = online.Compute(user, items, Timestamp::FromSeconds(t));
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : FeatureMatrix{};
}

// What a fresh fold over the whole event store says: the offline path's answer.
FeatureMatrix Offline(const store::EventStore& store, const std::string& user, double t) {
  auto fold = FeatureFold::Create(DefaultFeatureSpecs(), &store);
  EXPECT_TRUE(fold.ok());
  EXPECT_TRUE(store.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    (*fold)->Apply(e);
    return true;
  }).ok());
  auto items = AllItems();
  FeatureMatrix m{items.size(), (*fold)->names().size(), {}};
  m.values.resize(m.rows * m.cols);
  for (size_t j = 0; j < items.size(); ++j)
    (*fold)->Compute(store.FindUser(user).value_or(UserIdx{UINT32_MAX}),
                     store.FindItem(items[j]).value_or(ItemIdx{UINT32_MAX}), Timestamp::FromSeconds(t),
                     std::span<float>(m.values.data() + j * m.cols, m.cols));
  return m;
}

// Feeds events in batches of `batch` through the sink, as an importer would.
void Feed(events::RecordSink& sink, const std::vector<events::Event>& evs, size_t batch) {
  for (size_t i = 0; i < evs.size(); i += batch) {
    std::span<const events::Event> part(evs.data() + i, std::min(batch, evs.size() - i));
    ASSERT_TRUE(sink.Append(part).ok());
  }
}

class OnlineBackends : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      auto server = RedisServer::Start();
      ASSERT_TRUE(server.ok()) << server.status();
      redis_ = std::move(*server);
    }
  }
  store::KvOptions KvOpts() const {
    store::KvOptions o;
    o.backend = GetParam();
    o.path = dir_ / "online";
    if (redis_) {
      o.redis_host = redis_->host();
      o.redis_port = redis_->port();
      o.key_prefix = "test:";
    }
    return o;
  }

  TempDir dir_;
  std::unique_ptr<RedisServer> redis_;
};

TEST_P(OnlineBackends, StreamedFeaturesEqualTheOfflineFoldBitForBit) {
  auto store = OpenStore(dir_ / "events");
  auto online = OpenOnline(*store, KvOpts());
  auto sink = OnlineFeatures::FeedingSink(*store, *online);
  ASSERT_TRUE(sink->UpsertItems(Items()).ok());
  Feed(*sink, Stream(3000, 1), 97);
  for (const char* user : {"u0", "u7", "u29", "nobody"})
    EXPECT_TRUE(SameBits(Features(*online, user, kT0 + 3000 * 37.0), Offline(*store, user, kT0 + 3000 * 37.0)))
        << user;
}

TEST_P(OnlineBackends, RedeliveredEventsAreFoldedOnce) {
  auto store = OpenStore(dir_ / "events");
  auto online = OpenOnline(*store, KvOpts());
  auto sink = OnlineFeatures::FeedingSink(*store, *online);
  ASSERT_TRUE(sink->UpsertItems(Items()).ok());
  auto evs = Stream(600, 2);
  Feed(*sink, evs, 50);
  FeatureMatrix once = Features(*online, "u3", kT0 + 1e5);
  Feed(*sink, evs, 70);  // every event again, differently batched: all duplicates
  EXPECT_TRUE(SameBits(once, Features(*online, "u3", kT0 + 1e5)));
  EXPECT_EQ(online->watermark(), 600u);
}

TEST_P(OnlineBackends, ReopeningRecoversTheStateWithoutReplaying) {
  auto evs = Stream(1500, 3);
  FeatureMatrix before;
  {
    auto store = OpenStore(dir_ / "events");
    auto online = OpenOnline(*store, KvOpts());
    auto sink = OnlineFeatures::FeedingSink(*store, *online);
    ASSERT_TRUE(sink->UpsertItems(Items()).ok());
    Feed(*sink, evs, 128);
    before = Features(*online, "u11", kT0 + 1e5);
  }
  if (GetParam() == "memory") GTEST_SKIP() << "the memory backend keeps nothing across a restart";
  auto store = OpenStore(dir_ / "events");
  OnlineOpenReport report;
  auto online = OpenOnline(*store, KvOpts(), &report);
  EXPECT_FALSE(report.rebuilt);
  EXPECT_GT(report.restored, 0u);
  EXPECT_EQ(report.caught_up, 0u);
  EXPECT_TRUE(SameBits(before, Features(*online, "u11", kT0 + 1e5)));
}

TEST_P(OnlineBackends, EventsStoredBehindItsBackAreFoldedAtOpenAndBeforeTheNextBatch) {
  // A crash between the event store's durable write and the online write looks like this:
  // events in the store that the online state never saw.
  if (GetParam() == "memory") GTEST_SKIP() << "nothing to recover";
  auto evs = Stream(900, 4);
  {
    auto store = OpenStore(dir_ / "events");
    auto online = OpenOnline(*store, KvOpts());
    auto sink = OnlineFeatures::FeedingSink(*store, *online);
    ASSERT_TRUE(sink->UpsertItems(Items()).ok());
    Feed(*sink, std::vector(evs.begin(), evs.begin() + 300), 100);
    ASSERT_TRUE(store->Append(std::span(evs).subspan(300, 300)).ok());  // not fed
  }
  auto store = OpenStore(dir_ / "events");
  OnlineOpenReport report;
  auto online = OpenOnline(*store, KvOpts(), &report);
  EXPECT_EQ(report.caught_up, 300u);
  EXPECT_EQ(online->watermark(), 600u);
  ASSERT_TRUE(store->Append(std::span(evs).subspan(600, 100)).ok());  // not fed either
  auto sink = OnlineFeatures::FeedingSink(*store, *online);
  Feed(*sink, std::vector(evs.begin() + 700, evs.end()), 100);
  EXPECT_EQ(online->watermark(), 900u);
  EXPECT_TRUE(SameBits(Features(*online, "u5", kT0 + 1e5), Offline(*store, "u5", kT0 + 1e5)));
}

TEST_P(OnlineBackends, ChangedFeatureDefinitionsRebuildFromTheEventStore) {
  if (GetParam() == "memory") GTEST_SKIP() << "nothing persists";
  auto evs = Stream(500, 5);
  {
    auto store = OpenStore(dir_ / "events");
    auto specs = ParseFeatureSpecs(R"(
[[features]]
name = "likes"
entity = "user"
aggregation = "count"
types = { like = 1.0 }
)", "old.toml");
    auto online = OnlineFeatures::Open(*specs, *store, Kv(KvOpts()));
    ASSERT_TRUE(online.ok()) << online.status();
    auto sink = OnlineFeatures::FeedingSink(*store, **online);
    ASSERT_TRUE(sink->UpsertItems(Items()).ok());
    Feed(*sink, evs, 100);
  }
  auto store = OpenStore(dir_ / "events");
  OnlineOpenReport report;
  auto online = OpenOnline(*store, KvOpts(), &report);
  EXPECT_TRUE(report.rebuilt);
  EXPECT_TRUE(SameBits(Features(*online, "u1", kT0 + 1e5), Offline(*store, "u1", kT0 + 1e5)));
}

TEST_P(OnlineBackends, BackgroundFeedingReachesTheSameStateAsFeedingInline) {
  // Inline feeding equals the offline fold (above); the background feeder, persisting every
  // 1000 events and at Flush, must reach the same state in memory and in the backend.
  auto evs = Stream(3000, 8);
  FeatureMatrix fed;
  {
    auto store = OpenStore(dir_ / "events");
    auto online = OpenOnline(*store, KvOpts());
    auto sink = OnlineFeatures::FeedingSink(*store, *online, {.background = true, .persist_every_events = 1000});
    ASSERT_TRUE(sink->UpsertItems(Items()).ok());
    Feed(*sink, evs, 128);
    Feed(*sink, std::vector(evs.begin(), evs.begin() + 500), 100);  // duplicates: nothing to fold
    ASSERT_TRUE(sink->Flush().ok());
    EXPECT_EQ(online->watermark(), 3000u);
    for (const char* user : {"u0", "u13", "u29", "nobody"})
      EXPECT_TRUE(SameBits(Features(*online, user, kT0 + 1e5), Offline(*store, user, kT0 + 1e5))) << user;
    fed = Features(*online, "u13", kT0 + 1e5);
  }
  if (GetParam() == "memory") return;
  auto store = OpenStore(dir_ / "events");
  OnlineOpenReport report;
  auto online = OpenOnline(*store, KvOpts(), &report);
  EXPECT_FALSE(report.rebuilt);
  EXPECT_EQ(report.caught_up, 0u);  // Flush wrote everything folded
  EXPECT_TRUE(SameBits(fed, Features(*online, "u13", kT0 + 1e5)));
}

INSTANTIATE_TEST_SUITE_P(All, OnlineBackends, ::testing::Values("memory", "rocksdb", "redis"),
                         [](const auto& param_info) { return param_info.param; });

TEST(OnlineRedisTest, AFailedBackgroundOnlineWriteIsReturnedByFlush) {
  for (uint64_t persist_every : {uint64_t{0}, uint64_t{1'000'000}}) {
    SCOPED_TRACE(persist_every);
    TempDir dir;
    auto store = OpenStore(dir / "events");
    auto server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    store::KvOptions o{.backend = "redis", .redis_host = (*server)->host(), .redis_port = (*server)->port()};
    auto online = OpenOnline(*store, o);
    ASSERT_NE(online, nullptr);
    auto sink = OnlineFeatures::FeedingSink(*store, *online,
                                            {.background = true, .persist_every_events = persist_every});
    auto evs = Stream(400, 9);
    Feed(*sink, std::vector(evs.begin(), evs.begin() + 200), 100);
    ASSERT_TRUE(sink->Flush().ok());
    server->reset();  // the backend goes away
    // The event store still takes the batch; its online write fails behind the caller's back.
    ASSERT_TRUE(sink->Append(std::span(evs).subspan(200, 200)).ok());
    Status flushed = sink->Flush();
    EXPECT_FALSE(flushed.ok());
  }
}

TEST(OnlineRedisTest, AReaderWithoutTheEventStoreSeesWhatTheWriterFoldedBitForBit) {
  auto server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  TempDir dir;
  store::KvOptions o{.backend = "redis", .redis_host = (*server)->host(), .redis_port = (*server)->port(),
                     .key_prefix = "shared:"};
  auto store = OpenStore(dir / "events");
  auto writer = OpenOnline(*store, o);
  auto reader = OnlineFeatures::OpenReader(DefaultFeatureSpecs(), Kv(o));
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto sink = OnlineFeatures::FeedingSink(*store, *writer);
  ASSERT_TRUE(sink->UpsertItems(Items()).ok());
  auto evs = Stream(2000, 6);
  size_t done = 0;
  for (size_t cut : {size_t{500}, size_t{1200}, size_t{2000}}) {
    Feed(*sink, std::vector(evs.begin() + done, evs.begin() + cut), 64);
    done = cut;
    double t = kT0 + cut * 37.0;
    for (const char* user : {"u2", "u17", "ghost"}) {
      FeatureMatrix want = Offline(*store, user, t);
      EXPECT_TRUE(SameBits(want, Features(**reader, user, t))) << user << " after " << cut;
      EXPECT_TRUE(SameBits(want, Features(*writer, user, t))) << user << " after " << cut;
    }
  }
  events::AppendResult fake;
  fake.stored = {0};
  EXPECT_EQ((*reader)->Apply(evs, fake).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(OnlineRedisTest, AReaderRefusesAStoreWrittenUnderOtherDefinitions) {
  auto server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  TempDir dir;
  store::KvOptions o{.backend = "redis", .redis_host = (*server)->host(), .redis_port = (*server)->port(),
                     .key_prefix = "x:"};
  auto store = OpenStore(dir / "events");
  auto writer = OpenOnline(*store, o);
  auto specs = ParseFeatureSpecs(R"(
[[features]]
name = "likes"
entity = "user"
aggregation = "count"
types = { like = 1.0 }
)", "other.toml");
  auto reader = OnlineFeatures::OpenReader(*specs, Kv(o));
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace funnel::features
