// Claim: event-to-visible freshness p99 <= 100 ms when streaming from Kafka into the online
// features.
//
//   build/bench/kafka_freshness_bench [--rate 2000] [--seconds 10] [--partitions 4]
//       [--backend rocksdb|memory] [--linger-ms 5] [--max-batch 5000] [-X key=value ...]
//
// librdkafka's in-process mock cluster (3 brokers, loopback only) stands in for Kafka. A
// producer thread sends events at a steady rate, each stamped with its wall-clock send time as
// `ts` and keyed by user; a KafkaIngestor streams them into OnlineFeatures::FeedingSink (a
// synced event store, then the online features on the chosen backend). An event is visible
// when the sink's Append returns for the batch holding it: the writer answers Compute from the
// state that Append just folded. It is committed when the ingestor's on_commit fires for that
// batch. -X passes consumer properties through extra_config (e.g. -X fetch.wait.max.ms=500
// to reproduce librdkafka's default).
//
// Mock caveats, which make it a pessimistic stand-in: an empty Fetch is held for the whole
// fetch.wait.max.ms even when data arrives meanwhile (a real broker answers as soon as
// fetch.min.bytes are there), and each Fetch returns at most one message set per partition.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "funnel/core/logging.h"
#include "funnel/events/kafka_consumer.h"
#include "funnel/features/online_store.h"
#include "funnel/store/event_store.h"
#include "funnel/store/kv_store.h"

namespace funnel {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kTopic[] = "events";

struct Args {
  int rate = 2000;
  double seconds = 10;
  int partitions = 4;
  std::string backend = "rocksdb";
  int linger_ms = 5;
  size_t max_batch = 5000;
  std::map<std::string, std::string> extra;
};

[[noreturn]] void Die(std::string_view what) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(what.size()), what.data());
  std::exit(1);
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// Measures, per event, send time (its ts) -> the sink's Append returning (visible), and the
// batch's commit. Warm-up events (ids "w-...") are not counted. Append and the commit callback
// both run on the ingestor's thread; only counted() and warmed() may be read from others.
class TimingSink final : public events::RecordSink {
 public:
  explicit TimingSink(events::RecordSink& inner) : inner_(inner) {}
  StatusOr<events::AppendResult> Append(std::span<const events::Event> batch) override {
    FUNNEL_ASSIGN_OR_RETURN(events::AppendResult r, inner_.Append(batch));
    const double now = WallSeconds();
    last_batch_.clear();
    for (const events::Event& e : batch) {
      if (e.id.starts_with("w-")) {
        warmed_ = true;
        continue;
      }
      visible_ms_.push_back((now - e.ts.seconds()) * 1e3);
      last_batch_.push_back(e.ts.seconds());
    }
    batch_sizes_.push_back(batch.size());
    counted_ = visible_ms_.size();
    return r;
  }
  Status UpsertItems(std::span<const events::Item> items) override { return inner_.UpsertItems(items); }
  Status UpsertUsers(std::span<const events::User> users) override { return inner_.UpsertUsers(users); }

  void OnCommit() {
    const double now = WallSeconds();
    for (double ts : last_batch_) committed_ms_.push_back((now - ts) * 1e3);
    last_batch_.clear();
  }
  // Events timed so far; safe from any thread.
  uint64_t counted() const { return counted_.load(); }
  bool warmed() const { return warmed_.load(); }
  const std::vector<double>& visible_ms() const { return visible_ms_; }
  const std::vector<double>& committed_ms() const { return committed_ms_; }
  const std::vector<size_t>& batch_sizes() const { return batch_sizes_; }

 private:
  events::RecordSink& inner_;
  std::vector<double> visible_ms_, committed_ms_, last_batch_;
  std::vector<size_t> batch_sizes_;
  std::atomic<uint64_t> counted_{0};
  std::atomic<bool> warmed_{false};
};

void SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
    Die(Cat(key, "=", value, ": ", errstr));
}

void Produce(rd_kafka_t* producer, const std::string& key, const std::string& payload) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(kTopic), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) Die(Cat("produce: ", rd_kafka_err2str(err)));
    rd_kafka_poll(producer, 1);
  }
  rd_kafka_poll(producer, 0);
}

std::string EventJson(const std::string& id, int n, double ts) {
  static constexpr const char* kTypes[] = {"impression", "click", "watch", "like", "skip"};
  return fmt::format(R"({{"user":"u{}","item":"v{}","type":"{}","ts":{:.6f},"id":"{}"{}}})", n % 1000,
                     (n * 7) % 5000, kTypes[n % 5], ts, id, n % 5 == 2 ? R"(,"value":12)" : "");
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(Cat(k, " needs a value"));
      return argv[++i];
    };
    if (k == "--rate") a.rate = std::stoi(next());
    else if (k == "--seconds") a.seconds = std::stod(next());
    else if (k == "--partitions") a.partitions = std::stoi(next());
    else if (k == "--backend") a.backend = next();
    else if (k == "--linger-ms") a.linger_ms = std::stoi(next());
    else if (k == "--max-batch") a.max_batch = std::stoull(next());
    else if (k == "-X") {
      std::string kv = next();
      size_t eq = kv.find('=');
      if (eq == std::string::npos) Die(Cat("-X ", kv, ": expected KEY=VALUE"));
      a.extra[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else {
      Die(Cat("unknown argument ", k));
    }
  }
  spdlog::set_level(spdlog::level::warn);

  // The mock cluster lives inside the producer handle.
  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  SetConf(pconf, "test.mock.num.brokers", "3");
  SetConf(pconf, "linger.ms", std::to_string(a.linger_ms));
  char errstr[512];
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
  if (producer == nullptr) Die(errstr);
  rd_kafka_mock_cluster_t* cluster = rd_kafka_handle_mock_cluster(producer);
  if (rd_kafka_mock_topic_create(cluster, kTopic, a.partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
    Die("cannot create the mock topic");
  const std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);

  std::string tmpl = (std::filesystem::temp_directory_path() / "funnel-kafkabench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp failed");
  const std::string dir = tmpl;
  int exit_code = 0;
  {
    auto store = store::EventStore::Open({.path = dir + "/events"});
    if (!store.ok()) Die(MessageOf(store.status()));
    auto kv = store::KvStore::Create({.backend = a.backend, .path = dir + "/online"});
    if (!kv.ok()) Die(MessageOf(kv.status()));
    auto online = features::OnlineFeatures::Open(features::DefaultFeatureSpecs(), **store, std::move(*kv));
    if (!online.ok()) Die(MessageOf(online.status()));
    auto feeding = features::OnlineFeatures::FeedingSink(**store, **online);
    TimingSink sink(*feeding);

    events::KafkaConsumerOptions opt;
    opt.brokers = bootstraps;
    opt.topic = kTopic;
    opt.group = "freshness";
    opt.max_batch = a.max_batch;
    // The mock holds a rebalance for session.timeout.ms - 1 s; it must exceed its 3 s join delay.
    opt.extra_config = {{"session.timeout.ms", "4000"}, {"heartbeat.interval.ms", "300"}};
    for (const auto& [k, v] : a.extra) opt.extra_config[k] = v;
    opt.on_commit = [&](const events::IngestStats&) { sink.OnCommit(); };
    auto ingestor = events::KafkaIngestor::Create(opt, sink, ImportConfig{});
    if (!ingestor.ok()) Die(MessageOf(ingestor.status()));

    const uint64_t total = static_cast<uint64_t>(a.rate * a.seconds);
    std::atomic<bool> stop{false};
    double produce_seconds = 0;
    std::thread producer_thread([&] {
      // Warm-up: one event per partition key until the consumer has joined and sees them.
      const auto warm_deadline = Clock::now() + std::chrono::seconds(30);
      for (int w = 0; !sink.warmed() && Clock::now() < warm_deadline; ++w) {
        Produce(producer, Cat("u", w), EventJson(Cat("w-", w), w, WallSeconds()));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (!sink.warmed()) Die("the consumer did not join within 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the warm-up drain
      const auto start = Clock::now();
      const double interval = 1.0 / a.rate;
      for (uint64_t n = 0; n < total;) {
        // Send everything due by now, stamped with the moment it is handed to the producer.
        const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(n * interval));
        if (Clock::now() < due) {
          std::this_thread::sleep_until(due);
          continue;
        }
        const int i = static_cast<int>(n);
        Produce(producer, Cat("u", i % 1000), EventJson(Cat("e-", i), i, WallSeconds()));
        ++n;
      }
      produce_seconds = std::chrono::duration<double>(Clock::now() - start).count();
      rd_kafka_flush(producer, 10000);
      const auto end = Clock::now() + std::chrono::seconds(30);
      while (Clock::now() < end && sink.counted() < total)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the last commit
      stop = true;
    });
    Status run = (*ingestor)->Run({.stop = [&] { return stop.load(); }});
    producer_thread.join();
    events::IngestStats st = (*ingestor)->stats();
    ingestor->reset();
    if (!run.ok()) {
      std::fprintf(stderr, "ingestor: %s\n", std::string(MessageOf(run)).c_str());
      exit_code = 1;
    }

    std::string extra;
    for (const auto& [k, v] : a.extra) extra += Cat(" ", k, "=", v);
    const auto& vis = sink.visible_ms();
    const auto& com = sink.committed_ms();
    double mean_batch = 0;
    for (size_t b : sink.batch_sizes()) mean_batch += static_cast<double>(b);
    mean_batch /= std::max<size_t>(1, sink.batch_sizes().size());
    std::printf("# %d events/s for %.1f s (produced in %.2f s), %d partitions, backend %s, producer linger.ms=%d, "
                "max_batch %zu%s%s\n",
                a.rate, a.seconds, produce_seconds, a.partitions, a.backend.c_str(), a.linger_ms, a.max_batch,
                extra.empty() ? "" : ",", extra.c_str());
    std::printf("| measure | events | p50 ms | p90 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
    std::printf("| produce -> visible (Append returned) | %zu | %.1f | %.1f | %.1f | %.1f |\n", vis.size(), Quantile(vis, 0.5),
                Quantile(vis, 0.9), Quantile(vis, 0.99), vis.empty() ? 0.0 : *std::max_element(vis.begin(), vis.end()));
    std::printf("| produce -> committed | %zu | %.1f | %.1f | %.1f | %.1f |\n", com.size(), Quantile(com, 0.5),
                Quantile(com, 0.9), Quantile(com, 0.99), com.empty() ? 0.0 : *std::max_element(com.begin(), com.end()));
    std::printf("batches %zu (mean %.1f events), commits %llu, consumed %llu, accepted %llu\n", sink.batch_sizes().size(),
                mean_batch, static_cast<unsigned long long>(st.commits), static_cast<unsigned long long>(st.consumed),
                static_cast<unsigned long long>(st.accepted));
    if (vis.size() < total) {
      std::fprintf(stderr, "only %zu of %llu events became visible\n", vis.size(), static_cast<unsigned long long>(total));
      exit_code = 1;
    }
  }
  rd_kafka_destroy(producer);
  std::filesystem::remove_all(dir);
  return exit_code;
}

}  // namespace
}  // namespace funnel

int main(int argc, char** argv) { return funnel::Main(argc, argv); }
