// Claims (the feature store's issue): the feature fold runs at >= 1,000,000 events/s on one core
// in memory and >= 200,000 events/s with RocksDB persistence; the redis backend's pipelined
// throughput; OnlineFeatures::Compute latency for 1 user x 200 items; memory per million users.
//
//   build/bench/feature_fold_bench [--users 5000] [--items 20000] [--days 30] [--seed 7]
//                                  [--data DIR] [--online-events 300000] [--repeat 3]
//                                  [--backends memory,rocksdb,redis] [--no-redis]
//
// Without --data it generates a platform with the project's generator into a temp dir and
// imports it into a temp event store (not timed); with --data it reads DIR/events.
//  1. Fold: every stored event is loaded into a vector first (RocksDB replay is not timed), then
//     FeatureFold::Apply runs over it in time order; thread CPU time and wall time, --repeat runs.
//  2. Memory: StateBytes() after the first fold, per user, and the process RSS delta it caused.
//  3. Online: the first --online-events events go in batches of 1,000 and 10,000 through a fresh
//     event store (synced, as in production) and OnlineFeatures::Apply on each backend; only
//     Apply (fold + persisting the changed records) is counted as the online figure, the event
//     store's Append is shown beside it. redis runs on a real redis-server on a loopback port.
//  4. Compute: OnlineFeatures::Compute for 1 random user x 200 random items after the 10,000
//     batch run, median and p99 (memory and rocksdb answer from memory, redis reads through).
#include <malloc.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "funnel/events/generator.h"
#include "funnel/events/jsonl_importer.h"
#include "funnel/features/feature_fold.h"
#include "funnel/features/online_store.h"
#include "funnel/store/event_store.h"
#include "funnel/store/kv_store.h"
#include "support/redis_server.h"

namespace funnel {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  uint32_t users = 5000, items = 20000, days = 30;
  uint64_t seed = 7;
  std::string data;
  size_t online_events = 300000;
  int repeat = 3;
  bool redis = true;
  std::vector<std::string> backends = {"memory", "rocksdb", "redis"};
};

[[noreturn]] void Die(const Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, std::string(MessageOf(s)).c_str());
  std::exit(1);
}

template <typename T>
T Check(StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(v.status(), what);
  return std::move(*v);
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) Die(s, what);
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

size_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

double Median(std::vector<double> v) { return Quantile(std::move(v), 0.5); }

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "funnel-featbench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die(absl::InternalError("mkdtemp failed"), "temp dir");
  return tmpl;
}

struct Loaded {
  std::vector<store::StoredEvent> stored;  // every event, time order; string views cleared
  std::vector<events::Event> head;         // the first online_events, as an importer sees them
  std::vector<events::Item> items;         // item metadata
};

Loaded Load(const store::EventStore& store, size_t head_events) {
  Loaded out;
  out.stored.reserve(store.Stats().events);
  Check(store.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    if (out.head.size() < head_events) {
      events::Event& ev = out.head.emplace_back();
      ev.user = store.UserName(e.user);
      ev.item = store.ItemName(e.item);
      ev.type = store.TypeName(e.type);
      ev.ts = e.ts;
      ev.value = e.value;
      ev.id = std::string(e.id);
      ev.request_id = std::string(e.request_id);
      ev.context = std::string(e.context);
    }
    store::StoredEvent& s = out.stored.emplace_back(e);
    s.id = s.request_id = s.context = {};  // the views die with the callback; the fold ignores them
    return true;
  }), "replaying the event store");
  Check(store.ForEachItem([&](ItemIdx, const events::Item& it) {
    out.items.push_back(it);
    return true;
  }), "reading items");
  return out;
}

// Entity records a fold hands out, by kind (the key's first byte: docs/formats/online-features.md).
struct RecordCounts {
  std::map<char, std::pair<uint64_t, uint64_t>> by_kind;  // kind -> (records, key + value bytes)
};

void FoldThroughput(const store::EventStore& store, const Loaded& data, int repeat) {
  std::vector<double> cpu, wall;
  size_t state_bytes = 0, rss_delta = 0, fold_rss_before = 0;
  RecordCounts records;
  for (int r = 0; r < repeat; ++r) {
    malloc_trim(0);  // so the fold's pages show in RSS instead of reusing freed heap
    const size_t rss0 = RssBytes();
    auto fold = Check(features::FeatureFold::Create(features::DefaultFeatureSpecs(), &store), "creating the fold");
    const double c0 = ThreadCpuSeconds();
    const auto w0 = Clock::now();
    for (const store::StoredEvent& e : data.stored) fold->Apply(e);
    const auto w1 = Clock::now();
    const double c1 = ThreadCpuSeconds();
    cpu.push_back(c1 - c0);
    wall.push_back(Seconds(w0, w1));
    if (r == 0) {  // later runs reuse memory the allocator kept, so only the first RSS is telling
      state_bytes = fold->StateBytes();
      fold_rss_before = rss0;
      rss_delta = RssBytes() - rss0;
      fold->DrainChanges([&](std::string_view key, std::string_view value) {
        auto& [n, bytes] = records.by_kind[key.empty() ? '?' : key[0]];
        ++n;
        bytes += key.size() + value.size();
      });
    }
  }
  const double n = static_cast<double>(data.stored.size());
  std::printf("\n## Fold, in memory, one thread (%zu events, %d runs)\n", data.stored.size(), repeat);
  std::printf("| measure | median | best |\n| --- | ---: | ---: |\n");
  std::printf("| events/s by thread CPU time | %.0f | %.0f |\n", n / Median(cpu), n / *std::min_element(cpu.begin(), cpu.end()));
  std::printf("| events/s by wall time | %.0f | %.0f |\n", n / Median(wall), n / *std::min_element(wall.begin(), wall.end()));
  std::printf("| ns per event (CPU) | %.1f | %.1f |\n", Median(cpu) / n * 1e9, *std::min_element(cpu.begin(), cpu.end()) / n * 1e9);

  const double users = store.NumUsers(), items = store.NumItems();
  std::printf("\n## Memory after folding every event\n");
  std::printf("| measure | value |\n| --- | ---: |\n");
  std::printf("| users / items / events | %.0f / %.0f / %zu |\n", users, items, data.stored.size());
  std::printf("| StateBytes() | %.1f MiB |\n", state_bytes / 1048576.0);
  std::printf("| StateBytes() per user (all entities / users) | %.0f B |\n", state_bytes / users);
  std::printf("| extrapolated per million users | %.2f GiB |\n", state_bytes / users * 1e6 / 1073741824.0);
  std::printf("| RSS delta of create + fold | %.1f MiB (%.0f B per user; RSS before %.0f MiB) |\n",
              rss_delta / 1048576.0, rss_delta / users, fold_rss_before / 1048576.0);
  uint64_t user_owned = 0;
  for (const auto& [kind, nb] : records.by_kind) {
    const char* name = kind == 'u' ? "user" : kind == 'i' ? "item" : kind == 'c' ? "user x category"
                     : kind == 'r' ? "user x creator" : kind == 'g' ? "global" : "other";
    std::printf("| %s records (persisted form) | %llu, %.1f MiB, %.0f B each |\n", name,
                static_cast<unsigned long long>(nb.first), nb.second / 1048576.0,
                static_cast<double>(nb.second) / std::max<uint64_t>(1, nb.first));
    if (kind == 'u' || kind == 'c' || kind == 'r') user_owned += nb.second;
  }
  std::printf("| persisted bytes per user (user + user x category + user x creator records) | %.0f B (%.2f GiB per million users) |\n",
              user_owned / users, user_owned / users * 1e6 / 1073741824.0);
}

struct OnlineRun {
  double online_wall = 0, online_cpu = 0, store_wall = 0;
  std::vector<double> apply_ms;
  size_t events = 0;
};

// Feeds data.head in batches through a fresh synced event store and OnlineFeatures on `kv`;
// returns the online object (for Compute) through *keep.
OnlineRun FeedOnline(const Loaded& data, const std::string& dir, std::unique_ptr<store::KvStore> kv, size_t batch,
                     std::unique_ptr<store::EventStore>* keep_store,
                     std::unique_ptr<features::OnlineFeatures>* keep_online) {
  auto store = Check(store::EventStore::Open({.path = dir + "/events"}), "opening the bench event store");
  auto online = Check(features::OnlineFeatures::Open(features::DefaultFeatureSpecs(), *store, std::move(kv)),
                      "opening the online features");
  Check(store->UpsertItems(data.items), "upserting items");
  Check(online->UpsertItems(data.items), "upserting items online");
  OnlineRun run;
  for (size_t i = 0; i < data.head.size(); i += batch) {
    std::span<const events::Event> part(data.head.data() + i, std::min(batch, data.head.size() - i));
    const auto s0 = Clock::now();
    events::AppendResult r = Check(store->Append(part), "appending to the event store");
    const auto w0 = Clock::now();
    const double c0 = ThreadCpuSeconds();
    Check(online->Apply(part, r), "applying online");
    const double c1 = ThreadCpuSeconds();
    const auto w1 = Clock::now();
    run.store_wall += Seconds(s0, w0);
    run.online_wall += Seconds(w0, w1);
    run.online_cpu += c1 - c0;
    run.apply_ms.push_back(Seconds(w0, w1) * 1e3);
    run.events += r.accepted;
  }
  *keep_store = std::move(store);
  *keep_online = std::move(online);
  return run;
}

void ComputeLatency(const features::OnlineFeatures& online, const Loaded& data, const char* label, int requests) {
  std::mt19937_64 rng(11);
  // The instant after the newest event, as a request that follows it: a read at the newest
  // event's own time must not see it, which the folded state cannot answer (it would replay).
  const Timestamp t = Timestamp::FromMicros(data.head.back().ts.micros() + 1);
  std::vector<std::string> items(200);
  std::vector<double> ms, cpu_ms;
  for (int q = 0; q < requests; ++q) {
    const std::string& user = data.head[rng() % data.head.size()].user;
    for (auto& it : items) it = data.items[rng() % data.items.size()].item;
    const double c0 = ThreadCpuSeconds();
    const auto w0 = Clock::now();
    auto m = online.Compute(user, items, t);
    ms.push_back(Seconds(w0, Clock::now()) * 1e3);
    cpu_ms.push_back((ThreadCpuSeconds() - c0) * 1e3);
    if (!m.ok()) Die(m.status(), "computing features");
  }
  std::printf("| %s | %d | %.3f | %.3f | %.3f | %.3f / %.3f |\n", label, requests, Median(ms), Quantile(ms, 0.99),
              *std::max_element(ms.begin(), ms.end()), Median(cpu_ms), Quantile(cpu_ms, 0.99));
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(absl::InvalidArgumentError(Cat(k, " needs a value")), "arguments");
      return argv[++i];
    };
    if (k == "--users") a.users = static_cast<uint32_t>(std::stoul(next()));
    else if (k == "--items") a.items = static_cast<uint32_t>(std::stoul(next()));
    else if (k == "--days") a.days = static_cast<uint32_t>(std::stoul(next()));
    else if (k == "--seed") a.seed = std::stoull(next());
    else if (k == "--data") a.data = next();
    else if (k == "--online-events") a.online_events = std::stoull(next());
    else if (k == "--repeat") a.repeat = std::max(1, std::stoi(next()));
    else if (k == "--no-redis") a.redis = false;
    else if (k == "--backends") {
      a.backends.clear();
      std::string list = next();
      for (size_t p = 0; p <= list.size();) {
        size_t comma = std::min(list.find(',', p), list.size());
        if (comma > p) a.backends.push_back(list.substr(p, comma - p));
        p = comma + 1;
      }
    }
    else Die(absl::InvalidArgumentError(Cat("unknown argument ", k)), "arguments");
  }

  const std::string tmp = MakeTempDir();
  std::unique_ptr<store::EventStore> source;
  if (a.data.empty()) {
    const auto g0 = Clock::now();
    events::GeneratorOptions g{.users = a.users, .items = a.items, .days = a.days, .seed = a.seed, .drift_day = 0,
                               .out_dir = tmp + "/gen"};
    events::GeneratorSummary gs = Check(events::GeneratePlatform(g), "generating");
    // A bulk load for the bench's input, not a measured path: unsynced.
    source = Check(store::EventStore::Open({.path = tmp + "/source", .sync = false}), "opening the source store");
    Check(events::ImportJsonLines(tmp + "/gen/items.jsonl", events::RecordKind::kItem, *source, ImportConfig{}, {}).status(),
          "importing items");
    Check(events::ImportJsonLines(tmp + "/gen/events.jsonl", events::RecordKind::kEvent, *source, ImportConfig{}, {}).status(),
          "importing events");
    std::filesystem::remove_all(tmp + "/gen");
    std::printf("# generated %u users x %u items x %u days (seed %llu): %llu events; generate + import %.1f s (not measured)\n",
                a.users, a.items, a.days, static_cast<unsigned long long>(a.seed),
                static_cast<unsigned long long>(gs.events), Seconds(g0, Clock::now()));
  } else {
    source = Check(store::EventStore::Open({.path = a.data + "/events", .create_if_missing = false, .read_only = true}),
                   "opening --data");
    std::printf("# data %s\n", a.data.c_str());
  }
  const Loaded data = Load(*source, a.online_events);
  if (data.head.empty()) Die(absl::FailedPreconditionError("no events"), "loading");

  FoldThroughput(*source, data, a.repeat);

  std::unique_ptr<testing::RedisServer> redis;
  if (a.redis && std::find(a.backends.begin(), a.backends.end(), "redis") != a.backends.end()) {
    auto r = testing::RedisServer::Start();
    if (r.ok()) redis = std::move(*r);
    else std::printf("\n(redis skipped: %s)\n", std::string(MessageOf(r.status())).c_str());
  }

  std::printf("\n## OnlineFeatures::Apply, %zu events in batches (event store synced; online part timed alone)\n",
              data.head.size());
  std::printf("| backend | batch | online events/s (wall) | online events/s (CPU) | Apply p50 / p99 ms | event store Append events/s |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
  struct Kept {
    std::string label;
    std::unique_ptr<store::EventStore> store;
    std::unique_ptr<features::OnlineFeatures> online;
  };
  std::vector<Kept> kept;
  int run_id = 0;
  for (const std::string& name : a.backends) {
    const char* backend = name.c_str();
    if (name == "redis" && !redis) continue;
    for (size_t batch : {size_t{1000}, size_t{10000}}) {
      const std::string dir = Cat(tmp, "/run", run_id++);
      // As the CLI opens it (cli/common.cc): no fsync per online write, the event store is synced.
      store::KvOptions o{.backend = backend, .path = dir + "/online", .sync = false};
      if (redis) {
        o.redis_host = redis->host();
        o.redis_port = redis->port();
        o.key_prefix = Cat("b", run_id, ":");
      }
      auto kv = Check(store::KvStore::Create(o), "creating the key-value store");
      Kept k{Cat(backend), nullptr, nullptr};
      OnlineRun run = FeedOnline(data, dir, std::move(kv), batch, &k.store, &k.online);
      const double n = static_cast<double>(run.events);
      std::printf("| %s | %zu | %.0f | %.0f | %.2f / %.2f | %.0f |\n", backend, batch, n / run.online_wall,
                  n / run.online_cpu, Median(run.apply_ms), Quantile(run.apply_ms, 0.99), n / run.store_wall);
      std::fflush(stdout);
      if (batch == 10000) kept.push_back(std::move(k));
    }
  }

  std::printf("\n## OnlineFeatures::Compute, 1 user x 200 items (after the 10,000-batch run)\n");
  std::printf("| backend | requests | median ms | p99 ms | max ms | client CPU median / p99 ms |\n"
              "| --- | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Kept& k : kept) {
    const char* how = k.label == "redis" ? "redis (read-through)" : k.label == "rocksdb" ? "rocksdb (from memory)" : "memory";
    ComputeLatency(*k.online, data, how, k.label == "redis" ? 1000 : 2000);
  }

  kept.clear();
  redis.reset();
  source.reset();
  std::filesystem::remove_all(tmp);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("\npeak RSS %ld MiB\n", ru.ru_maxrss / 1024);
  return 0;
}

}  // namespace
}  // namespace funnel

int main(int argc, char** argv) { return funnel::Main(argc, argv); }
