// Kafka -> KafkaIngestor -> FeedingSink(event store, online features), with the process "dying"
// mid-stream and a new consumer of the same group taking over: the online features must equal,
// bit for bit, a fresh fold over what the event store holds. Redelivered events are duplicates
// in the store and must not be folded a second time; events the store holds but the online
// state missed must be folded once.
//
// The twin folds the stored events in arrival (seq) order, which is the order the online store
// folds them in. With several partitions, arrival order is not time order, and the fold is not
// order-free (decay is applied lazily, an event older than its entity's last update counts at
// that update), so a time-ordered replay would differ legitimately.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "funnel/events/kafka_consumer.h"
#include "funnel/features/online_store.h"
#include "support/mock_kafka.h"
#include "support/temp_dir.h"

namespace funnel::features {
namespace {

using Clock = std::chrono::steady_clock;
using testing::MockKafka;
using testing::TempDir;

constexpr int kUsers = 40;
constexpr int kItems = 60;
constexpr double kT0 = 1700000000;

// Event n: every standard type, watch with a value, over kUsers x kItems, ts rising with n.
std::string EventJson(int n) {
  static constexpr const char* kTypes[] = {"impression", "click", "watch", "like", "skip", "share", "impression"};
  const char* type = kTypes[(n * 5 + n / 7) % 7];
  std::string value = std::string_view(type) == "watch" ? Cat(R"(,"value":)", 3 + n % 40) : "";
  return Cat(R"({"user":"u)", (n * 7) % kUsers, R"(","item":"v)", (n * 13 + n / 17) % kItems,
             R"(","type":")", type, R"(","ts":)", kT0 + n * 11.0, value, R"(,"id":"e-)", n, R"("})");
}

std::vector<events::Item> Items() {
  std::vector<events::Item> out;
  for (int i = 0; i < kItems; ++i) {
    events::Item it;
    it.item = Cat("v", i);
    it.categories = {Cat("cat", i % 6)};
    if (i % 4 == 0) it.categories.push_back(Cat("cat", (i + 1) % 6));
    it.creator = Cat("c", i % 9);
    it.ts = Timestamp::FromSeconds(kT0 - 3600.0 * i);
    it.attributes = Cat(R"({"duration":)", 15 + i, "}");
    out.push_back(std::move(it));
  }
  return out;
}

std::vector<std::string> AllItems() {
  std::vector<std::string> v;
  for (int i = 0; i < kItems + 2; ++i) v.push_back(Cat("v", i));  // the last two are unknown
  return v;
}

// Produces events [first, first + n), round-robin over the partitions.
void Produce(MockKafka& kafka, int first, int n) {
  for (int i = first; i < first + n; ++i) kafka.Produce(i % kafka.partitions(), EventJson(i));
  kafka.Flush();
}

events::KafkaConsumerOptions Options(const MockKafka& kafka, const std::string& group) {
  events::KafkaConsumerOptions opt;
  opt.brokers = kafka.bootstraps();
  opt.topic = MockKafka::kTopic;
  opt.group = group;
  opt.max_batch = 150;
  opt.extra_config = testing::MockConsumerConfig();
  return opt;
}

// A safety net so a broken ingestor fails the test instead of hanging it.
std::function<bool()> Deadline(int seconds) {
  auto end = Clock::now() + std::chrono::seconds(seconds);
  return [end] { return Clock::now() >= end; };
}

int64_t CommittedSum(const events::IngestStats& st) {
  int64_t sum = 0;
  for (const auto& [p, offset] : st.committed) sum += offset;
  return sum;
}

std::unique_ptr<store::EventStore> OpenStore(const std::string& path) {
  auto s = store::EventStore::Open({.path = path});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<OnlineFeatures> OpenOnline(const store::EventStore& store, const std::string& kv_path,
                                           OnlineOpenReport* report = nullptr) {
  auto kv = store::KvStore::Create({.backend = "rocksdb", .path = kv_path});
  EXPECT_TRUE(kv.ok()) << kv.status();
  if (!kv.ok()) return nullptr;
  auto online = OnlineFeatures::Open(DefaultFeatureSpecs(), store, std::move(*kv), report);
  EXPECT_TRUE(online.ok()) << online.status();
  return online.ok() ? std::move(*online) : nullptr;
}

// The exact twin: a fresh fold over every stored event, each applied once, in arrival order.
std::unique_ptr<FeatureFold> FreshFold(const store::EventStore& store) {
  auto fold = FeatureFold::Create(DefaultFeatureSpecs(), &store);
  EXPECT_TRUE(fold.ok()) << fold.status();
  std::vector<store::StoredEvent> stored;
  EXPECT_TRUE(store.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    store::StoredEvent copy = e;
    copy.id = copy.request_id = copy.context = {};  // views die with the callback; the fold ignores them
    stored.push_back(copy);
    return true;
  }).ok());
  std::sort(stored.begin(), stored.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  for (const store::StoredEvent& e : stored) (*fold)->Apply(e);
  return std::move(*fold);
}

// The offline fold: every stored event in time order (partitions interleave, so the stream
// arrives out of time order).
std::unique_ptr<FeatureFold> OfflineFold(const store::EventStore& store) {
  auto fold = FeatureFold::Create(DefaultFeatureSpecs(), &store);
  EXPECT_TRUE(fold.ok()) << fold.status();
  EXPECT_TRUE(store.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    (*fold)->Apply(e);
    return true;
  }).ok());
  return std::move(*fold);
}

// Every user's features against every item (and two unknown ones): the folded state vs the
// fresh fold in arrival order (each event folded once), and what reads answer vs the offline fold.
void ExpectOnlineEqualsFreshFold(const OnlineFeatures& online, const store::EventStore& store) {
  for (bool state : {true, false}) {
    SCOPED_TRACE(state ? "folded state" : "reads");
    std::unique_ptr<FeatureFold> fold = state ? FreshFold(store) : OfflineFold(store);
    const Timestamp t = Timestamp::FromSeconds(kT0 + 11.0 * 2000);  // shortly after the last event
    const std::vector<std::string> items = AllItems();
    std::vector<float> want;
    int differing_users = 0;
    for (int u = 0; u < kUsers + 1; ++u) {  // u40 never appears
      const std::string user = Cat("u", u);
      auto got = state ? online.ComputeFolded(user, items, t) : online.Compute(user, items, t);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(got->cols, fold->names().size());
      want.assign(got->values.size(), 0.0f);
      for (size_t j = 0; j < items.size(); ++j)
        fold->Compute(store.FindUser(user).value_or(UserIdx{UINT32_MAX}),
                      store.FindItem(items[j]).value_or(ItemIdx{UINT32_MAX}), t,
                      std::span<float>(want.data() + j * got->cols, got->cols));
      if (std::memcmp(want.data(), got->values.data(), want.size() * sizeof(float)) != 0) {
        ++differing_users;
        for (size_t k = 0; k < want.size(); ++k)
          if (std::memcmp(&want[k], &got->values[k], sizeof(float)) != 0) {
            ADD_FAILURE() << user << " x " << items[k / got->cols] << ": feature " << fold->names()[k % got->cols]
                          << " is " << got->values[k] << " online, " << want[k] << " in a fresh fold";
            break;
          }
      }
    }
    EXPECT_EQ(differing_users, 0);
  }
}

TEST(OnlineKafkaTest, CrashAfterDurableWriteBeforeCommitFoldsEveryEventExactlyOnce) {
  constexpr int kEvents = 1500;
  MockKafka kafka(3);
  Produce(kafka, 0, kEvents);
  TempDir dir;
  auto store = OpenStore(dir / "events");
  auto online = OpenOnline(*store, dir / "online");
  ASSERT_TRUE(store && online);
  auto sink = OnlineFeatures::FeedingSink(*store, *online);
  ASSERT_TRUE(sink->UpsertItems(Items()).ok());

  // The third batch is durable in the event store and folded online when the "process dies",
  // before its offsets are committed.
  int calls = 0;
  auto crash_on_third = [&](std::span<const events::Event>) -> Status {
    return ++calls == 3 ? absl::UnavailableError("simulated crash") : absl::OkStatus();
  };
  const events::KafkaConsumerOptions opt = Options(kafka, "g-online-crash");
  events::IngestStats first;
  {
    auto ingestor = events::KafkaIngestor::Create(opt, *sink, ImportConfig{}, crash_on_third);
    ASSERT_TRUE(ingestor.ok()) << ingestor.status();
    EXPECT_EQ((*ingestor)->Run({.stop = Deadline(20)}).code(), absl::StatusCode::kUnavailable);
    first = (*ingestor)->stats();
  }  // destroyed without committing the third batch
  ASSERT_EQ(first.batches, 3u);
  ASSERT_EQ(first.commits, 2u);
  const int64_t committed = CommittedSum(first);
  ASSERT_GT(first.accepted, static_cast<uint64_t>(committed)) << "the crashed batch was committed";
  EXPECT_EQ(online->watermark(), store->NextSeq()) << "the crashed batch was not folded online";

  auto ingestor = events::KafkaIngestor::Create(opt, *sink, ImportConfig{});
  ASSERT_TRUE(ingestor.ok()) << ingestor.status();
  const uint64_t remaining = kEvents - committed;
  ASSERT_TRUE((*ingestor)->Run({.stop = Deadline(20), .max_messages = remaining}).ok());
  events::IngestStats second = (*ingestor)->stats();
  ingestor->reset();

  // The crashed batch came back, was skipped by the store, and so not folded again.
  EXPECT_EQ(second.consumed, remaining);
  EXPECT_EQ(second.duplicates, first.accepted - committed);
  EXPECT_EQ(first.accepted + second.accepted, uint64_t{kEvents});
  EXPECT_EQ(store->Stats().events, uint64_t{kEvents});
  EXPECT_EQ(online->watermark(), uint64_t{kEvents});
  ExpectOnlineEqualsFreshFold(*online, *store);

  // What was persisted along the way restores to the same state.
  sink.reset();
  online.reset();
  OnlineOpenReport report;
  auto reopened = OpenOnline(*store, dir / "online", &report);
  ASSERT_TRUE(reopened);
  EXPECT_FALSE(report.rebuilt);
  EXPECT_GT(report.restored, 0u);
  EXPECT_EQ(report.caught_up, 0u);
  ExpectOnlineEqualsFreshFold(*reopened, *store);
}

// Appends to the event store, then "dies" on its n-th call before the online state hears of
// the batch: the crash between the two durable writes.
class DyingBetweenWritesSink final : public events::RecordSink {
 public:
  DyingBetweenWritesSink(store::EventStore& store, events::RecordSink& feeding, int die_on_call)
      : store_(store), feeding_(feeding), die_on_call_(die_on_call) {}
  StatusOr<events::AppendResult> Append(std::span<const events::Event> events) override {
    if (++calls_ != die_on_call_) return feeding_.Append(events);
    FUNNEL_ASSIGN_OR_RETURN(events::AppendResult r, store_.Append(events));
    died_after_storing_ = r.accepted;
    return absl::UnavailableError("simulated crash after the event store's write");
  }
  Status UpsertItems(std::span<const events::Item> items) override { return feeding_.UpsertItems(items); }
  Status UpsertUsers(std::span<const events::User> users) override { return feeding_.UpsertUsers(users); }
  uint64_t died_after_storing() const { return died_after_storing_; }

 private:
  store::EventStore& store_;
  events::RecordSink& feeding_;
  const int die_on_call_;
  int calls_ = 0;
  uint64_t died_after_storing_ = 0;
};

TEST(OnlineKafkaTest, CrashBetweenEventStoreAndOnlineWriteIsFoldedOnceAfterRestart) {
  constexpr int kEvents = 1200;
  MockKafka kafka(2);
  Produce(kafka, 0, kEvents);
  TempDir dir;
  auto store = OpenStore(dir / "events");
  const events::KafkaConsumerOptions opt = Options(kafka, "g-online-between");

  uint64_t lost_online = 0;
  events::IngestStats first;
  {
    auto online = OpenOnline(*store, dir / "online");
    ASSERT_TRUE(online);
    auto feeding = OnlineFeatures::FeedingSink(*store, *online);
    ASSERT_TRUE(feeding->UpsertItems(Items()).ok());
    DyingBetweenWritesSink sink(*store, *feeding, /*die_on_call=*/4);
    auto ingestor = events::KafkaIngestor::Create(opt, sink, ImportConfig{});
    ASSERT_TRUE(ingestor.ok()) << ingestor.status();
    EXPECT_EQ((*ingestor)->Run({.stop = Deadline(20)}).code(), absl::StatusCode::kUnavailable);
    first = (*ingestor)->stats();
    lost_online = sink.died_after_storing();
    ASSERT_GT(lost_online, 0u);
    EXPECT_EQ(online->watermark() + lost_online, store->NextSeq());
  }  // the whole "process" is gone: consumer, online state and sink

  // The restart: the online store catches up on what the event store holds past its watermark.
  OnlineOpenReport report;
  auto online = OpenOnline(*store, dir / "online", &report);
  ASSERT_TRUE(online);
  EXPECT_FALSE(report.rebuilt);
  EXPECT_EQ(report.caught_up, lost_online);
  auto feeding = OnlineFeatures::FeedingSink(*store, *online);
  auto ingestor = events::KafkaIngestor::Create(opt, *feeding, ImportConfig{});
  ASSERT_TRUE(ingestor.ok()) << ingestor.status();
  const uint64_t remaining = kEvents - CommittedSum(first);
  ASSERT_TRUE((*ingestor)->Run({.stop = Deadline(20), .max_messages = remaining}).ok());
  events::IngestStats second = (*ingestor)->stats();
  ingestor->reset();

  EXPECT_EQ(second.duplicates, lost_online) << "exactly the crashed batch comes back";
  EXPECT_EQ(store->Stats().events, uint64_t{kEvents});
  EXPECT_EQ(online->watermark(), uint64_t{kEvents});
  ExpectOnlineEqualsFreshFold(*online, *store);
}

}  // namespace
}  // namespace funnel::features
