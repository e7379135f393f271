// KafkaIngestor against librdkafka's in-process mock cluster (no broker to install; it listens
// on 127.0.0.1 only), writing into a real event store.
//
// Every test pays the mock's group-join delay (3 s for the first member of a group), and each
// rebalance about session.timeout.ms - 1 s (support/mock_kafka.h).
#include "funnel/events/kafka_consumer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "funnel/core/logging.h"
#include "funnel/store/event_store.h"
#include "support/mock_kafka.h"
#include "support/temp_dir.h"

namespace funnel::events {
namespace {

using Clock = std::chrono::steady_clock;

using testing::MockKafka;
constexpr const char* kTopic = MockKafka::kTopic;

std::string EventJson(int n, double ts) {
  return fmt::format(R"({{"user":"u{}","item":"i{}","type":"click","ts":{:.6f},"id":"e-{}"}})", n % 50,
                     n % 200, ts, n);
}
std::string EventJson(int n) { return EventJson(n, 1700000000.0 + n); }

// Events 0..n-1 with ids e-0.., round-robin over the partitions.
void ProduceEvents(MockKafka& kafka, int n, int first = 0) {
  for (int i = first; i < first + n; ++i) kafka.Produce(i % kafka.partitions(), EventJson(i));
  kafka.Flush();
}

KafkaConsumerOptions Options(const MockKafka& kafka, const std::string& group) {
  KafkaConsumerOptions opt;
  opt.brokers = kafka.bootstraps();
  opt.topic = kTopic;
  opt.group = group;
  opt.extra_config = testing::MockConsumerConfig();
  return opt;
}

std::unique_ptr<store::EventStore> OpenStore(const std::string& path) {
  auto s = store::EventStore::Open({.path = path});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// Every stored event id, with repeats if any.
std::vector<std::string> StoredIds(const store::EventStore& store) {
  std::vector<std::string> ids;
  Status s = store.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    ids.emplace_back(e.id);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return ids;
}

// The store holds exactly the events e-0 .. e-(n-1), each once.
void ExpectExactlyOnce(const store::EventStore& store, int n) {
  std::vector<std::string> ids = StoredIds(store);
  EXPECT_EQ(ids.size(), static_cast<size_t>(n));
  EXPECT_EQ(store.Stats().events, static_cast<uint64_t>(n));
  std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size()) << "an event is stored twice";
  for (int i = 0; i < n; ++i)
    if (!unique.contains(Cat("e-", i))) {
      ADD_FAILURE() << "event e-" << i << " is missing";
      break;
    }
}

int64_t CommittedSum(const IngestStats& st) {
  int64_t sum = 0;
  for (const auto& [p, offset] : st.committed) sum += offset;
  return sum;
}

// A safety net so a broken ingestor fails the test instead of hanging it.
std::function<bool()> Deadline(int seconds) {
  auto end = Clock::now() + std::chrono::seconds(seconds);
  return [end] { return Clock::now() >= end; };
}

TEST(KafkaIngestorTest, EveryEventLandsExactlyOnceAndOffsetsReachTheEnd) {
  constexpr int kEvents = 3000;
  MockKafka kafka(4);
  ProduceEvents(kafka, kEvents);
  testing::TempDir dir;
  auto store = OpenStore(dir.path());

  KafkaConsumerOptions opt = Options(kafka, "g1");
  opt.max_batch = 500;
  auto ingestor = KafkaIngestor::Create(opt, *store, ImportConfig{});
  ASSERT_TRUE(ingestor.ok()) << ingestor.status();
  ASSERT_TRUE((*ingestor)->Run({.stop = Deadline(20), .max_messages = kEvents}).ok());
  IngestStats st = (*ingestor)->stats();
  EXPECT_EQ(st.consumed, uint64_t{kEvents});
  EXPECT_EQ(st.accepted, uint64_t{kEvents});
  EXPECT_EQ(st.duplicates, 0u);
  EXPECT_EQ(st.rejected, 0u);
  EXPECT_EQ(st.commit_failures, 0u);
  EXPECT_GE(st.batches, uint64_t{kEvents / 500});
  ingestor->reset();

  ExpectExactlyOnce(*store, kEvents);
  std::vector<int64_t> committed = kafka.Committed("g1");
  for (int p = 0; p < kafka.partitions(); ++p) {
    EXPECT_EQ(committed[p], kafka.HighWatermark(p)) << "partition " << p;
    EXPECT_EQ(st.committed[Cat(kTopic, "[", p, "]")], kafka.HighWatermark(p));
  }
}

TEST(KafkaIngestorTest, BadMessagesAreSkippedCountedAndDeadLetteredWithoutBlockingThePartition) {
  MockKafka kafka(1);  // bad and good messages share the partition
  const std::string kBadTs = R"({"user":"u","item":"i","type":"click","ts":"yesterday"})";
  const std::string kBinary = "\xff\xfe\x01not utf-8";
  std::vector<std::string> messages = {EventJson(0), "not json", EventJson(1), kBadTs, EventJson(2),
                                       "",           EventJson(3), kBinary};
  for (const auto& m : messages) kafka.Produce(0, m);
  kafka.Flush();
  testing::TempDir dir;
  auto store = OpenStore(dir / "store");

  KafkaConsumerOptions opt = Options(kafka, "g-bad");
  opt.dead_letter_path = dir / "dead.jsonl";
  auto ingestor = KafkaIngestor::Create(opt, *store, ImportConfig{});
  ASSERT_TRUE(ingestor.ok()) << ingestor.status();
  ASSERT_TRUE((*ingestor)->Run({.stop = Deadline(20), .max_messages = messages.size()}).ok());
  IngestStats st = (*ingestor)->stats();
  ingestor->reset();

  EXPECT_EQ(st.consumed, messages.size());
  EXPECT_EQ(st.accepted, 4u);
  EXPECT_EQ(st.rejected, 4u);
  ASSERT_EQ(st.first_errors.size(), 4u);
  EXPECT_EQ(st.first_errors[1].rfind("events[0]@3: field \"ts\"", 0), 0u) << st.first_errors[1];
  ExpectExactlyOnce(*store, 4);
  // The last message is bad and its offset is committed all the same.
  EXPECT_EQ(kafka.Committed("g-bad")[0], static_cast<int64_t>(messages.size()));

  std::ifstream in(dir / "dead.jsonl");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  simdjson::dom::parser parser;
  const int64_t want_offsets[] = {1, 3, 5, 7};
  for (size_t i = 0; i < lines.size(); ++i) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(lines[i]).get(doc), simdjson::SUCCESS) << lines[i];
    EXPECT_EQ(std::string_view(doc["topic"].get_string().value()), kTopic);
    EXPECT_EQ(doc["partition"].get_int64().value(), 0);
    EXPECT_EQ(doc["offset"].get_int64().value(), want_offsets[i]);
    EXPECT_FALSE(std::string_view(doc["error"].get_string().value()).empty());
  }
  simdjson::dom::element bad_ts = parser.parse(lines[1]).value();
  EXPECT_EQ(std::string_view(bad_ts["payload"].get_string().value()), kBadTs);
  EXPECT_NE(std::string_view(bad_ts["error"].get_string().value()).find("field \"ts\""), std::string_view::npos);
  EXPECT_EQ(bad_ts["payload_base64"].error(), simdjson::NO_SUCH_FIELD);  // UTF-8: the text is exact
  simdjson::dom::element binary = parser.parse(lines[3]).value();
  EXPECT_EQ(std::string_view(binary["payload_base64"].get_string().value()), "//4Bbm90IHV0Zi04");
  // The text field is there too, readable, with U+FFFD for each byte that is not UTF-8.
  EXPECT_EQ(std::string_view(binary["payload"].get_string().value()), "\xef\xbf\xbd\xef\xbf\xbd\x01not utf-8");
}

TEST(KafkaIngestorTest, CrashBetweenDurableWriteAndCommitRedeliversAndTheStoreDeduplicates) {
  constexpr int kEvents = 2000;
  MockKafka kafka(4);
  ProduceEvents(kafka, kEvents);
  testing::TempDir dir;
  auto store = OpenStore(dir.path());

  std::mutex mu;
  std::set<std::string> hooked;  // every event the hook saw, over both runs
  int calls = 0;
  auto hook = [&](std::span<const Event> events) -> Status {
    std::lock_guard lock(mu);
    // The third batch is durable in the store when the "process dies" before its commit.
    if (++calls == 3) return absl::UnavailableError("simulated crash");
    for (const Event& e : events) hooked.insert(e.id);
    return absl::OkStatus();
  };

  KafkaConsumerOptions opt = Options(kafka, "g-crash");
  opt.max_batch = 200;
  IngestStats first;
  {
    auto ingestor = KafkaIngestor::Create(opt, *store, ImportConfig{}, hook);
    ASSERT_TRUE(ingestor.ok()) << ingestor.status();
    Status s = (*ingestor)->Run({.stop = Deadline(20)});
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    // Unusable after a failure: a retry must not skip the failed batch.
    EXPECT_EQ((*ingestor)->Run({.stop = Deadline(20)}).code(), absl::StatusCode::kUnavailable);
    first = (*ingestor)->stats();
  }
  EXPECT_EQ(first.batches, 3u);
  EXPECT_EQ(first.commits, 2u);
  const int64_t committed = CommittedSum(first);
  ASSERT_GT(first.accepted, static_cast<uint64_t>(committed)) << "the failed batch was committed";
  EXPECT_EQ(store->Stats().events, first.accepted);

  auto ingestor = KafkaIngestor::Create(opt, *store, ImportConfig{}, hook);
  ASSERT_TRUE(ingestor.ok()) << ingestor.status();
  const uint64_t remaining = kEvents - committed;
  ASSERT_TRUE((*ingestor)->Run({.stop = Deadline(20), .max_messages = remaining}).ok());
  IngestStats second = (*ingestor)->stats();
  ingestor->reset();

  EXPECT_EQ(second.consumed, remaining);
  // Exactly the durable-but-uncommitted batch comes back, and only the store's dedupe keeps it
  // from being applied twice.
  EXPECT_EQ(second.duplicates, first.accepted - committed);
  EXPECT_EQ(first.accepted + second.accepted, uint64_t{kEvents});
  ExpectExactlyOnce(*store, kEvents);
  EXPECT_EQ(hooked.size(), size_t{kEvents}) << "the hook missed events of the crashed batch";
  std::vector<int64_t> offsets = kafka.Committed("g-crash");
  for (int p = 0; p < kafka.partitions(); ++p) EXPECT_EQ(offsets[p], kafka.HighWatermark(p));
}

TEST(KafkaIngestorTest, SinkFailureCommitsNothing) {
  MockKafka kafka(2);
  ProduceEvents(kafka, 100);
  struct FailingSink : RecordSink {
    StatusOr<AppendResult> Append(std::span<const Event>) override {
      return absl::ResourceExhaustedError("disk full");
    }
    Status UpsertItems(std::span<const Item>) override { return absl::OkStatus(); }
    Status UpsertUsers(std::span<const User>) override { return absl::OkStatus(); }
  } sink;
  {
    auto ingestor = KafkaIngestor::Create(Options(kafka, "g-fail"), sink, ImportConfig{});
    ASSERT_TRUE(ingestor.ok()) << ingestor.status();
    Status s = (*ingestor)->Run({.stop = Deadline(20)});
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_NE(MessageOf(s).find("disk full"), std::string_view::npos) << s;
    EXPECT_EQ((*ingestor)->stats().commits, 0u);
  }
  for (int64_t offset : kafka.Committed("g-fail")) EXPECT_LT(offset, 0) << "something was committed";
}

TEST(KafkaIngestorTest, StopAfterMaxMessagesCommitsThemAndTheNextRunResumesAfterThem) {
  constexpr int kEvents = 1000;
  MockKafka kafka(2);
  ProduceEvents(kafka, kEvents);
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  KafkaConsumerOptions opt = Options(kafka, "g-resume");
  opt.max_batch = 128;
  uint64_t commits_seen = 0;
  opt.on_commit = [&](const IngestStats&) { ++commits_seen; };

  IngestStats first, second;
  for (auto [limit, out] : {std::pair{300, &first}, std::pair{kEvents - 300, &second}}) {
    auto ingestor = KafkaIngestor::Create(opt, *store, ImportConfig{});
    ASSERT_TRUE(ingestor.ok()) << ingestor.status();
    ASSERT_TRUE((*ingestor)->Run({.stop = Deadline(20), .max_messages = uint64_t(limit)}).ok());
    *out = (*ingestor)->stats();
  }
  EXPECT_EQ(first.consumed, 300u);
  EXPECT_EQ(CommittedSum(first), 300);
  EXPECT_EQ(second.consumed, uint64_t{kEvents - 300});
  EXPECT_EQ(second.duplicates, 0u) << "a graceful stop redelivers nothing";
  EXPECT_EQ(commits_seen, first.commits + second.commits);
  ExpectExactlyOnce(*store, kEvents);
}

TEST(KafkaIngestorTest, ConsumersJoiningAndLeavingMidStreamLoseNothing) {
  constexpr int kEvents = 8000;
  MockKafka kafka(6);
  ProduceEvents(kafka, kEvents);
  testing::TempDir dir;
  auto store = OpenStore(dir.path());

  std::mutex mu;
  std::set<std::string> seen;
  std::atomic<uint64_t> a_messages{0};
  auto record = [&](std::span<const Event> events) {
    std::lock_guard lock(mu);
    for (const Event& e : events) seen.insert(e.id);
    return seen.size();
  };
  auto all_seen = [&] {
    std::lock_guard lock(mu);
    return seen.size() == size_t{kEvents};
  };

  // A starts alone and is slowed down so the stream is still flowing when B joins and when A
  // leaves; B joins once A is under way, A leaves half-way, B finishes.
  KafkaConsumerOptions a_opt = Options(kafka, "g-rebalance");
  a_opt.max_batch = 50;
  a_opt.on_commit = [&](const IngestStats& st) { a_messages = st.consumed; };
  IngestStats a_stats, b_stats;
  std::thread a([&] {
    auto ingestor = KafkaIngestor::Create(a_opt, *store, ImportConfig{}, [&](std::span<const Event> events) {
      record(events);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return absl::OkStatus();
    });
    ASSERT_TRUE(ingestor.ok()) << ingestor.status();
    EXPECT_TRUE((*ingestor)->Run({.stop = Deadline(25), .max_messages = kEvents / 2}).ok());
    a_stats = (*ingestor)->stats();
  });
  std::thread b([&] {
    auto until = Clock::now() + std::chrono::seconds(15);
    while (a_messages < 1000 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    KafkaConsumerOptions b_opt = Options(kafka, "g-rebalance");
    b_opt.max_batch = 100;
    auto ingestor = KafkaIngestor::Create(b_opt, *store, ImportConfig{}, [&](std::span<const Event> events) {
      record(events);
      return absl::OkStatus();
    });
    ASSERT_TRUE(ingestor.ok()) << ingestor.status();
    auto deadline = Deadline(25);
    EXPECT_TRUE((*ingestor)->Run({.stop = [&] { return all_seen() || deadline(); }}).ok());
    b_stats = (*ingestor)->stats();
  });
  a.join();
  b.join();

  std::cout << "A: " << a_stats.consumed << " messages, " << a_stats.rebalances << " rebalances; B: "
            << b_stats.consumed << " messages, " << b_stats.rebalances << " rebalances, "
            << b_stats.duplicates << " redelivered, " << b_stats.commit_failures << " failed commits\n";
  EXPECT_GE(a_stats.consumed, 1000u);
  EXPECT_GT(b_stats.consumed, 0u);
  EXPECT_GE(b_stats.rebalances, 2u) << "B should have seen A leave";
  EXPECT_EQ(a_stats.accepted + b_stats.accepted, uint64_t{kEvents});
  ExpectExactlyOnce(*store, kEvents);
  std::vector<int64_t> committed = kafka.Committed("g-rebalance");
  for (int p = 0; p < kafka.partitions(); ++p) EXPECT_EQ(committed[p], kafka.HighWatermark(p));
}

TEST(KafkaIngestorTest, RefusesSettingsThatWouldCommitBeforeEventsAreDurable) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  KafkaConsumerOptions opt{.brokers = "127.0.0.1:1", .topic = "t", .group = "g"};
  opt.extra_config["enable.auto.commit"] = "true";
  auto ingestor = KafkaIngestor::Create(opt, *store, ImportConfig{});
  ASSERT_FALSE(ingestor.ok());
  EXPECT_NE(MessageOf(ingestor.status()).find("enable.auto.commit"), std::string_view::npos);

  opt.extra_config = {{"no.such.property", "1"}};
  EXPECT_EQ(KafkaIngestor::Create(opt, *store, ImportConfig{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  opt.extra_config.clear();
  opt.topic.clear();
  EXPECT_EQ(KafkaIngestor::Create(opt, *store, ImportConfig{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace funnel::events

namespace funnel::events {
namespace {

// A typo in a producer's field or type names is as visible in a stream as in a file import.
TEST(KafkaIngestorTalliesTest, NonStandardTypesAndUnknownFieldsOfGoodMessagesAreCounted) {
  MockKafka kafka(1);
  kafka.Produce(0, R"({"user":"u1","item":"i1","type":"lkie","ts":1700000000,"timestamp":1})");
  kafka.Produce(0, R"({"user":"u2","item":"i1","type":"Like","ts":1700000001,"timestamp":1})");
  kafka.Produce(0, R"({"user":"u3","item":"i1","type":"lkie","ts":1700000002})");
  kafka.Flush();
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  auto ingestor = KafkaIngestor::Create(Options(kafka, "g-tallies"), *store, ImportConfig{});
  ASSERT_TRUE(ingestor.ok()) << ingestor.status();
  ASSERT_TRUE((*ingestor)->Run({.stop = Deadline(20), .max_messages = 3}).ok());
  const IngestStats st = (*ingestor)->stats();
  EXPECT_EQ(st.accepted, 3u);
  ASSERT_EQ(st.nonstandard_types.size(), 1u) << "Like is the standard like";
  EXPECT_EQ(st.nonstandard_types[0].name, "lkie");
  EXPECT_EQ(st.nonstandard_types[0].count, 2u);
  ASSERT_EQ(st.unknown_fields.size(), 1u);
  EXPECT_EQ(st.unknown_fields[0].name, "timestamp");
  EXPECT_EQ(st.unknown_fields[0].count, 2u);
  EXPECT_EQ(st.unknown_fields[0].hint, "ts");
}

// The give-up bound is about brokers, not traffic: a reachable cluster with an empty topic
// never trips it, an unreachable one does, in about the bound.
TEST(KafkaIngestorGiveUpTest, AQuietReachableClusterIsNotGivenUpOnButNoBrokerIs) {
  MockKafka kafka(1);
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  KafkaConsumerOptions opt = Options(kafka, "g-quiet");
  opt.give_up_after_ms = 1000;
  {
    auto ingestor = KafkaIngestor::Create(opt, *store, ImportConfig{});
    ASSERT_TRUE(ingestor.ok()) << ingestor.status();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE((*ingestor)->Run({.stop = [&] { return std::chrono::steady_clock::now() - start > std::chrono::seconds(3); }}).ok());
  }
  opt.brokers = "127.0.0.1:9";  // nothing listens on loopback's discard port
  opt.group = "g-nobody";
  opt.extra_config.clear();
  auto ingestor = KafkaIngestor::Create(opt, *store, ImportConfig{});
  ASSERT_TRUE(ingestor.ok()) << ingestor.status();
  const auto start = std::chrono::steady_clock::now();
  Status s = (*ingestor)->Run({.stop = [&] { return std::chrono::steady_clock::now() - start > std::chrono::seconds(30); }});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("no broker reachable at 127.0.0.1:9 for 1 s"), std::string::npos) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

}  // namespace
}  // namespace funnel::events
