#include "funnel/store/kv_store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "support/redis_server.h"
#include "support/temp_dir.h"

namespace funnel::store {
namespace {

using namespace std::string_literals;
using funnel::testing::RedisServer;
using funnel::testing::TempDir;
using Clock = std::chrono::steady_clock;
using Entries = std::vector<std::pair<std::string, std::string>>;

// One real redis-server per test suite, started by the suite's first test that needs it.
class SuiteRedis {
 public:
  // nullptr when no server could be started; error() then says why (and how to install it).
  const RedisServer* Get() {
    if (!started_) {
      started_ = true;
      auto server = RedisServer::Start();
      if (server.ok()) {
        server_ = std::move(*server);
      } else {
        error_ = std::string(MessageOf(server.status()));
      }
    }
    return server_.get();
  }
  const std::string& error() const { return error_; }
  void Reset() {
    server_.reset();
    started_ = false;
    error_.clear();
  }

 private:
  bool started_ = false;
  std::unique_ptr<RedisServer> server_;
  std::string error_;
};

// A distinct namespace per test on the shared server. It holds glob characters and a zero
// byte, so every redis test also checks that the prefix is matched literally by SCAN.
std::string UniqueKeyPrefix() {
  static std::atomic<int> counter{0};
  return Cat("kvtest", counter++, "*?[x]\\", "\0"s, ":");
}

KvOptions RedisOptions(const RedisServer& server) {
  KvOptions o;
  o.backend = "redis";
  o.redis_host = server.host();
  o.redis_port = server.port();
  o.key_prefix = UniqueKeyPrefix();
  o.timeout_ms = 2000;
  return o;
}

Status Put(KvStore& kv, std::string_view key, std::string_view value) {
  KvBatch batch;
  batch.Put(key, value);
  return kv.Write(batch);
}

Status Delete(KvStore& kv, std::string_view key) {
  KvBatch batch;
  batch.Delete(key);
  return kv.Write(batch);
}

std::optional<std::string> GetOrDie(const KvStore& kv, std::string_view key) {
  auto v = kv.Get(key);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::nullopt;
}

Entries Scan(const KvStore& kv, std::string_view prefix) {
  Entries out;
  Status s = kv.ScanPrefix(prefix, [&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

Entries Sorted(Entries e) {
  std::sort(e.begin(), e.end());
  return e;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// The behaviour every backend promises, run against each of them.
class KvStoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { redis_.Reset(); }

  void SetUp() override {
    KvOptions o;
    o.backend = GetParam();
    if (o.backend == "rocksdb") {
      o.path = dir_ / "kv";
      o.sync = false;  // durability has its own test; fsync per write would only slow this suite
    } else if (o.backend == "redis") {
      const RedisServer* server = redis_.Get();
      ASSERT_NE(server, nullptr) << redis_.error();
      o = RedisOptions(*server);
    }
    auto kv = KvStore::Create(o);
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
  }

  bool Ordered() const { return GetParam() != "redis"; }

  static SuiteRedis redis_;
  TempDir dir_;
  std::unique_ptr<KvStore> kv_;
};

SuiteRedis KvStoreContract::redis_;

TEST_P(KvStoreContract, ReportsItsBackendName) { EXPECT_EQ(kv_->backend(), GetParam()); }

TEST_P(KvStoreContract, GetOfAbsentKeyIsNullopt) {
  auto v = kv_->Get("nope");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, std::nullopt);
}

TEST_P(KvStoreContract, GetReturnsWhatWasPut) {
  ASSERT_TRUE(Put(*kv_, "u:1", "hello").ok());
  EXPECT_EQ(GetOrDie(*kv_, "u:1"), "hello");
  ASSERT_TRUE(Put(*kv_, "empty", "").ok());
  EXPECT_EQ(GetOrDie(*kv_, "empty"), "");  // present with an empty value is not absent
}

TEST_P(KvStoreContract, PutOverwritesThePreviousValue) {
  ASSERT_TRUE(Put(*kv_, "k", "first, and longer").ok());
  ASSERT_TRUE(Put(*kv_, "k", "second").ok());
  EXPECT_EQ(GetOrDie(*kv_, "k"), "second");
}

TEST_P(KvStoreContract, DeleteRemovesTheKeyAndIgnoresAbsentOnes) {
  ASSERT_TRUE(Put(*kv_, "k", "v").ok());
  ASSERT_TRUE(Delete(*kv_, "k").ok());
  EXPECT_EQ(GetOrDie(*kv_, "k"), std::nullopt);
  EXPECT_TRUE(Delete(*kv_, "never-there").ok());
}

TEST_P(KvStoreContract, EmptyBatchIsANoOp) { EXPECT_TRUE(kv_->Write(KvBatch()).ok()); }

TEST_P(KvStoreContract, BatchAppliesOperationsInOrder) {
  ASSERT_TRUE(Put(*kv_, "gone", "old").ok());
  KvBatch batch;
  batch.Put("a", "1");
  batch.Put("a", "2");
  batch.Delete("gone");
  batch.Put("b", "x");
  batch.Delete("b");
  batch.Delete("c");
  batch.Put("c", "back");
  ASSERT_TRUE(kv_->Write(batch).ok());
  EXPECT_EQ(GetOrDie(*kv_, "a"), "2");
  EXPECT_EQ(GetOrDie(*kv_, "gone"), std::nullopt);
  EXPECT_EQ(GetOrDie(*kv_, "b"), std::nullopt);
  EXPECT_EQ(GetOrDie(*kv_, "c"), "back");
}

// A reader never sees half of a batch: every key of one MultiGet holds the same generation.
// 1500 keys, so redis needs several MGETs and must wrap them in one transaction.
TEST_P(KvStoreContract, BatchIsVisibleAsAUnit) {
  std::vector<std::string> keys;
  for (int i = 0; i < 1500; ++i) keys.push_back(Cat("unit/", i));
  auto write_generation = [&](int g) {
    KvBatch batch;
    for (const auto& k : keys) batch.Put(k, std::to_string(g));
    return kv_->Write(batch);
  };
  ASSERT_TRUE(write_generation(0).ok());
  constexpr int kGenerations = 25;
  std::atomic<bool> done{false};
  std::atomic<int> write_errors{0};
  std::thread writer([&] {
    for (int g = 1; g <= kGenerations; ++g)
      if (!write_generation(g).ok()) ++write_errors;
    done = true;
  });
  int reads = 0, torn = 0;
  Status read_status;
  while ((!done || reads == 0) && read_status.ok()) {
    auto values = kv_->MultiGet(keys);
    read_status = values.status();
    if (!values.ok()) break;  // not ASSERT: the writer thread must be joined first
    ++reads;
    for (const auto& v : *values)
      if (v != (*values)[0]) {
        ++torn;
        break;
      }
  }
  writer.join();
  EXPECT_TRUE(read_status.ok()) << read_status;
  EXPECT_EQ(write_errors, 0);
  EXPECT_EQ(torn, 0) << "of " << reads << " reads";
  EXPECT_EQ(GetOrDie(*kv_, keys.back()), std::to_string(kGenerations));
}

TEST_P(KvStoreContract, MultiGetAnswersInOrderWithAbsentKeys) {
  KvBatch batch;
  batch.Put("k1", "v1");
  batch.Put("k3", "v3");
  ASSERT_TRUE(kv_->Write(batch).ok());
  std::vector<std::string> keys = {"k3", "missing", "k1", "k3", ""};
  auto values = kv_->MultiGet(keys);
  ASSERT_TRUE(values.ok()) << values.status();
  std::vector<std::optional<std::string>> want = {"v3", std::nullopt, "v1", "v3", std::nullopt};
  EXPECT_EQ(*values, want);

  auto none = kv_->MultiGet({});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST_P(KvStoreContract, KeysAndValuesAreBinarySafe) {
  const std::string key = "k\0\xff\r\n %s %b"s, value = "\0\0v\xff\x01\r\n"s;
  ASSERT_TRUE(Put(*kv_, key, value).ok());
  EXPECT_EQ(GetOrDie(*kv_, key), value);
  EXPECT_EQ(GetOrDie(*kv_, "k"), std::nullopt);  // the zero byte does not end the key
  EXPECT_EQ(GetOrDie(*kv_, "k\0"s), std::nullopt);
}

// Keys chosen to break a naive glob pattern or a C-string prefix.
TEST_P(KvStoreContract, ScanPrefixReturnsExactlyTheKeysWithThePrefix) {
  const std::vector<std::string> keys = {
      "a",         "a*b",         "a?",       "ab",         "a[1]",        "a]",
      "a\\x",      "ax",          "b",        "bin\0\x01"s, "bin\0\xff"s,  "bin\x01"s,
      "\xff\xff"s, "\xff\xff" "a"s, "\xff\xfe"s};
  KvBatch batch;
  for (const auto& k : keys) batch.Put(k, "v:" + k);
  ASSERT_TRUE(kv_->Write(batch).ok());

  for (const std::string& prefix :
       {"a*"s, "a?"s, "a["s, "a]"s, "a\\"s, "a"s, "bin\0"s, "bin"s, "\xff"s, "\xff\xff"s, ""s,
        "zzz"s, "a*b"s}) {
    Entries want;
    for (const auto& k : keys)
      if (k.starts_with(prefix)) want.emplace_back(k, "v:" + k);
    want = Sorted(want);
    Entries got = Scan(*kv_, prefix);
    if (Ordered()) {
      EXPECT_EQ(got, want) << "prefix '" << prefix << "'";
    } else {
      EXPECT_EQ(Sorted(got), want) << "prefix '" << prefix << "'";
    }
  }
}

TEST_P(KvStoreContract, ScanPrefixStopsWhenTheCallbackSaysSo) {
  KvBatch batch;
  for (int i = 0; i < 10; ++i) batch.Put(Cat("s/", i), "v");
  ASSERT_TRUE(kv_->Write(batch).ok());
  int visited = 0;
  Status s = kv_->ScanPrefix("s/", [&](std::string_view, std::string_view) { return ++visited < 3; });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(visited, 3);
}

// More keys than one memory chunk or one SCAN step: each is visited once, and the callback
// may write to the store it scans.
TEST_P(KvStoreContract, ScanPrefixVisitsEveryKeyOnceAndAllowsWritesFromTheCallback) {
  KvBatch batch;
  for (int i = 0; i < 3000; ++i) batch.Put(Cat("many/", 10000 + i), std::to_string(i));
  batch.Put("other", "x");
  ASSERT_TRUE(kv_->Write(batch).ok());
  std::vector<std::string> seen;
  Status s = kv_->ScanPrefix("many/", [&](std::string_view k, std::string_view) {
    seen.emplace_back(k);
    if (seen.size() % 500 == 0) {
      EXPECT_TRUE(Put(*kv_, Cat("written/", seen.size()), "w").ok());
    }
    return true;
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen.size(), 3000u);
  if (Ordered()) {
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a key was visited twice";
  EXPECT_EQ(Scan(*kv_, "written/").size(), 6u);
}

TEST_P(KvStoreContract, StoresOneMegabyteValues) {
  const std::string big = RandomBytes(1 << 20, 7), big2 = RandomBytes((1 << 20) + 3, 8);
  KvBatch batch;
  batch.Put("big", big);
  batch.Put("big2", big2);
  ASSERT_TRUE(kv_->Write(batch).ok());
  EXPECT_TRUE(GetOrDie(*kv_, "big") == big);
  auto values = kv_->MultiGet(std::vector<std::string>{"big2", "big"});
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_TRUE((*values)[0] == big2);
  EXPECT_TRUE((*values)[1] == big);
  Entries scanned = Sorted(Scan(*kv_, "big"));
  ASSERT_EQ(scanned.size(), 2u);
  EXPECT_TRUE(scanned[0].second == big);
}

TEST_P(KvStoreContract, MultiGetOfTenThousandKeys) {
  KvBatch batch;
  std::vector<std::string> keys;
  for (int i = 0; i < 10000; ++i) {
    batch.Put(Cat("mk/", i), Cat("value ", i));
    keys.push_back(Cat("mk/", i));
    if (i % 1000 == 0) keys.push_back(Cat("absent/", i));
  }
  ASSERT_TRUE(kv_->Write(batch).ok());
  auto values = kv_->MultiGet(keys);
  ASSERT_TRUE(values.ok()) << values.status();
  ASSERT_EQ(values->size(), keys.size());
  int present = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].starts_with("absent/")) {
      EXPECT_EQ((*values)[i], std::nullopt) << keys[i];
    } else {
      ASSERT_TRUE((*values)[i].has_value()) << keys[i];
      EXPECT_EQ(*(*values)[i], "value " + keys[i].substr(3));
      ++present;
    }
  }
  EXPECT_EQ(present, 10000);
}

// Four threads, each with its own keys: a counter bumped by read-modify-write and a run of
// plain and batched puts, while the others scan and read. Nothing may be lost.
TEST_P(KvStoreContract, LargeBatchesApplyTheLastOperationOnEachKey) {
  // Large enough for the rocksdb backend's sorted bulk path. Keys share long prefixes, differ
  // only past the 8th byte, or are shorter than 8 bytes, and repeat with puts and deletes.
  std::mt19937 rng(11);
  auto key = [&](uint32_t n) {
    switch (n % 4) {
      case 0: return Cat("lb/", n);
      case 1: return Cat("lb/long-common-prefix/", n);
      case 2: return std::string("lb/") + std::string(n % 5, '\0');
      default: return Cat("lb/", std::string(20, 'x'), n);
    }
  };
  std::map<std::string, std::string> want;
  KvBatch before;
  for (uint32_t n = 0; n < 3000; ++n) {
    before.Put(key(n), Cat("old ", n));
    want[key(n)] = Cat("old ", n);
  }
  ASSERT_TRUE(kv_->Write(before).ok());
  KvBatch batch;
  for (int i = 0; i < 30000; ++i) {
    std::string k = key(rng() % 6000);
    if (rng() % 4 == 0) {
      batch.Delete(k);
      want.erase(k);
    } else {
      batch.Put(k, Cat("new ", i));
      want[k] = Cat("new ", i);
    }
  }
  ASSERT_TRUE(kv_->Write(batch).ok());
  Entries got = Sorted(Scan(*kv_, "lb/"));
  EXPECT_EQ(got, Entries(want.begin(), want.end()));
}

TEST_P(KvStoreContract, ConcurrentWritersAndReadersLoseNoUpdates) {
  constexpr int kThreads = 4, kRounds = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string counter = Cat("ctr/", t);
      for (int i = 0; i < kRounds; ++i) {
        auto current = kv_->Get(counter);
        if (!current.ok()) {
          ++failures;
          continue;
        }
        int n = current->has_value() ? std::stoi(**current) : 0;
        KvBatch batch;
        batch.Put(counter, std::to_string(n + 1));
        batch.Put(Cat("w/", t, "/", i), Cat(t, ":", i));
        if (!kv_->Write(batch).ok()) ++failures;
        if (!Put(*kv_, Cat("p/", t, "/", i), "p").ok()) ++failures;
        if (i % 25 == 0) {
          // Another thread's keys, to make readers and writers overlap.
          Status s = kv_->ScanPrefix(Cat("w/", (t + 1) % kThreads, "/"),
                                     [](std::string_view, std::string_view) { return true; });
          if (!s.ok()) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  std::vector<std::string> keys;
  for (int t = 0; t < kThreads; ++t) {
    keys.push_back(Cat("ctr/", t));
    for (int i = 0; i < kRounds; ++i) {
      keys.push_back(Cat("w/", t, "/", i));
      keys.push_back(Cat("p/", t, "/", i));
    }
  }
  auto values = kv_->MultiGet(keys);
  ASSERT_TRUE(values.ok()) << values.status();
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE((*values)[i].has_value()) << "lost " << keys[i];
    if (keys[i].starts_with("ctr/")) {
      EXPECT_EQ(*(*values)[i], std::to_string(kRounds)) << keys[i];
    }
  }
  EXPECT_EQ(Scan(*kv_, "w/").size(), size_t{kThreads * kRounds});
}

std::string BackendName(const ::testing::TestParamInfo<std::string>& p) { return p.param; }

INSTANTIATE_TEST_SUITE_P(Backends, KvStoreContract,
                         ::testing::Values("memory", "rocksdb", "redis"), BackendName);

TEST(KvStoreCreateTest, UnknownBackendListsTheKnownOnes) {
  KvOptions o;
  o.backend = "memcached";
  auto kv = KvStore::Create(o);
  ASSERT_FALSE(kv.ok());
  EXPECT_EQ(kv.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MessageOf(kv.status()), "unknown kv backend 'memcached'; known: memory, rocksdb, redis");
}

class KvRocksDbTest : public ::testing::Test {
 protected:
  KvOptions Options() const {
    KvOptions o;
    o.backend = "rocksdb";
    o.path = dir_ / "nested/kv";  // directories are created as needed
    return o;
  }
  TempDir dir_;
};

TEST_F(KvRocksDbTest, ReopenKeepsTheData) {
  {
    auto kv = KvStore::Create(Options());
    ASSERT_TRUE(kv.ok()) << kv.status();
    KvBatch batch;
    batch.Put("kept", "yes");
    batch.Put("dropped", "no");
    ASSERT_TRUE((*kv)->Write(batch).ok());
    ASSERT_TRUE(Delete(**kv, "dropped").ok());
  }
  auto kv = KvStore::Create(Options());
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(GetOrDie(**kv, "kept"), "yes");
  EXPECT_EQ(GetOrDie(**kv, "dropped"), std::nullopt);
}

TEST_F(KvRocksDbTest, SecondOpenOfTheSamePathFailsWithAClearMessage) {
  auto first = KvStore::Create(Options());
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = KvStore::Create(Options());
  ASSERT_FALSE(second.ok());
  std::string_view message = MessageOf(second.status());
  EXPECT_NE(message.find(Options().path), std::string_view::npos) << message;
  EXPECT_NE(message.find("another funnel process"), std::string_view::npos) << message;
}

TEST_F(KvRocksDbTest, MissingPathIsInvalidArgument) {
  KvOptions o;
  o.backend = "rocksdb";
  auto kv = KvStore::Create(o);
  ASSERT_FALSE(kv.ok());
  EXPECT_EQ(kv.status().code(), absl::StatusCode::kInvalidArgument);
}

class KvRedisTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { redis_.Reset(); }

  void SetUp() override {
    server_ = redis_.Get();
    ASSERT_NE(server_, nullptr) << redis_.error();
  }

  std::unique_ptr<KvStore> Open(const KvOptions& o) {
    auto kv = KvStore::Create(o);
    EXPECT_TRUE(kv.ok()) << kv.status();
    return kv.ok() ? std::move(*kv) : nullptr;
  }

  static SuiteRedis redis_;
  const RedisServer* server_ = nullptr;
};

SuiteRedis KvRedisTest::redis_;

TEST_F(KvRedisTest, UnreachablePortFailsQuicklyNamingHostAndPort) {
  auto port = funnel::testing::FreeLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  KvOptions o = RedisOptions(*server_);
  o.redis_port = *port;
  o.timeout_ms = 300;
  auto start = Clock::now();
  auto kv = KvStore::Create(o);
  auto elapsed = Clock::now() - start;
  ASSERT_FALSE(kv.ok());
  EXPECT_EQ(kv.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(MessageOf(kv.status()).find(Cat("127.0.0.1:", *port)), std::string_view::npos)
      << kv.status();
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

// A peer that accepts TCP connections (the kernel does, from the listen backlog) but never
// answers: the command timeout, not the connect timeout, has to end the wait.
TEST_F(KvRedisTest, SilentServerTimesOutNamingHostAndPort) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  KvOptions o = RedisOptions(*server_);
  o.redis_port = port;
  o.timeout_ms = 300;
  auto start = Clock::now();
  auto kv = KvStore::Create(o);
  auto elapsed = Clock::now() - start;
  close(fd);
  ASSERT_FALSE(kv.ok());
  EXPECT_NE(MessageOf(kv.status()).find(Cat("127.0.0.1:", port)), std::string_view::npos)
      << kv.status();
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST_F(KvRedisTest, ReconnectsAfterTheServerClosedTheConnection) {
  auto kv = Open(RedisOptions(*server_));
  ASSERT_NE(kv, nullptr);
  ASSERT_TRUE(Put(*kv, "k", "v").ok());  // leaves a pooled connection behind
  auto killed = server_->Command({"CLIENT", "KILL", "TYPE", "normal"});
  ASSERT_TRUE(killed.ok()) << killed.status();
  ASSERT_EQ(killed->size(), 1u);
  ASSERT_GE(std::stoi((*killed)[0]), 1) << "the store's connection was not killed";
  EXPECT_EQ(GetOrDie(*kv, "k"), "v");
  server_->Command({"CLIENT", "KILL", "TYPE", "normal"}).IgnoreError();
  EXPECT_TRUE(Put(*kv, "k2", "v2").ok());
  EXPECT_EQ(GetOrDie(*kv, "k2"), "v2");
}

TEST_F(KvRedisTest, ServerGoneFailsNamingHostAndPort) {
  auto own = RedisServer::Start();
  ASSERT_TRUE(own.ok()) << own.status();
  KvOptions o = RedisOptions(**own);
  o.timeout_ms = 300;
  auto kv = Open(o);
  ASSERT_NE(kv, nullptr);
  ASSERT_TRUE(Put(*kv, "k", "v").ok());
  const std::string endpoint = Cat("127.0.0.1:", (*own)->port());
  own->reset();
  auto start = Clock::now();
  auto v = kv->Get("k");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(MessageOf(v.status()).find(endpoint), std::string_view::npos) << v.status();
  EXPECT_FALSE(Put(*kv, "k", "v").ok());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST_F(KvRedisTest, ServerErrorsComeBackWithTheirText) {
  KvOptions o = RedisOptions(*server_);
  auto kv = Open(o);
  ASSERT_NE(kv, nullptr);
  ASSERT_TRUE(server_->Command({"LPUSH", o.key_prefix + "list", "x"}).ok());
  auto v = kv->Get("list");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(MessageOf(v.status()).find("WRONGTYPE"), std::string_view::npos) << v.status();
  EXPECT_NE(MessageOf(v.status()).find(Cat("127.0.0.1:", server_->port())), std::string_view::npos)
      << v.status();
  // The connection is still usable after an error reply.
  EXPECT_TRUE(Put(*kv, "fine", "yes").ok());
  EXPECT_EQ(GetOrDie(*kv, "fine"), "yes");
}

TEST_F(KvRedisTest, KeyPrefixSeparatesStoresOnOneServer) {
  KvOptions a = RedisOptions(*server_), b = RedisOptions(*server_);
  auto kv_a = Open(a), kv_b = Open(b);
  ASSERT_TRUE(kv_a && kv_b);
  ASSERT_TRUE(Put(*kv_a, "k", "from a").ok());
  EXPECT_EQ(GetOrDie(*kv_b, "k"), std::nullopt);
  EXPECT_TRUE(Scan(*kv_b, "").empty());
  EXPECT_EQ(Scan(*kv_a, ""), (Entries{{"k", "from a"}}));
  auto raw = server_->Command({"GET", a.key_prefix + "k"});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, std::vector<std::string>{"from a"});
}

TEST_F(KvRedisTest, SelectsTheConfiguredDatabase) {
  KvOptions db0 = RedisOptions(*server_), db2 = db0;
  db2.redis_db = 2;
  auto kv0 = Open(db0), kv2 = Open(db2);
  ASSERT_TRUE(kv0 && kv2);
  ASSERT_TRUE(Put(*kv2, "k", "in db 2").ok());
  EXPECT_EQ(GetOrDie(*kv0, "k"), std::nullopt);
  EXPECT_EQ(GetOrDie(*kv2, "k"), "in db 2");

  KvOptions bad = db0;
  bad.redis_db = 100000;
  auto kv_bad = KvStore::Create(bad);
  ASSERT_FALSE(kv_bad.ok());
  EXPECT_EQ(kv_bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(MessageOf(kv_bad.status()).find("SELECT 100000"), std::string_view::npos)
      << kv_bad.status();
}

}  // namespace
}  // namespace funnel::store
