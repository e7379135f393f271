#include "funnel/events/kafka_consumer.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <utility>


#include "funnel/core/json_writer.h"
#include "funnel/core/logging.h"
#include "funnel/events/json_parser.h"

namespace funnel::events {

namespace {

using Clock = std::chrono::steady_clock;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessageHandle = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using ErrorHandle = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;

// The delivery guarantee rests on these: offsets move only when Flush() commits them.
constexpr std::pair<const char*, const char*> kManagedConfig[] = {
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
};

// Defaults for freshness, which extra_config may override.
//  - fetch.wait.max.ms: how long the broker may hold a Fetch that found less than
//    fetch.min.bytes (1 byte). A real broker answers as soon as data arrives, so this only
//    sets how often an idle consumer asks (about 100 requests/s per broker at 10 ms). But a
//    broker that holds an empty Fetch for the whole wait (librdkafka's mock cluster does, and
//    does not cut it short when data is produced meanwhile) delays every event by up to this
//    much, and the backlog it builds drains slowly: librdkafka's 500 ms default measured p50
//    267 ms / p99 511 ms produce->visible at 2,000 events/s (bench/kafka_freshness_bench.cc),
//    against the <= 100 ms p99 target; 10 ms measured p99 25-32 ms.
//  - auto.offset.reset: a new group reads the topic from its start.
constexpr std::pair<const char*, const char*> kDefaultConfig[] = {
    {"fetch.wait.max.ms", "10"},
    {"auto.offset.reset", "earliest"},
};

// A flood of bad messages must not flood the log; the count and the dead-letter file keep all.
constexpr uint64_t kLoggedRejects = 100;

std::string PartitionName(std::string_view topic, int32_t partition) {
  return Cat(topic, "[", partition, "]");
}

// Bad messages as JSON Lines: {"topic","partition","offset","error","payload"}, the payload
// kept byte for byte so it can be fixed and produced again; one that is not UTF-8 is written
// with U+FFFD in "payload" and exactly in "payload_base64" (docs/formats/json.md). Synced before the offsets of its batch are committed, so a dead
// letter is never lost; a crash before the commit may write it twice. Not thread-safe.
class DeadLetterFile {
 public:
  static StatusOr<std::unique_ptr<DeadLetterFile>> Open(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "ae");
    if (f == nullptr)
      return absl::InvalidArgumentError(
          Cat("cannot open the dead-letter file ", path, ": ", std::strerror(errno)));
    return std::unique_ptr<DeadLetterFile>(new DeadLetterFile(f, path));
  }
  ~DeadLetterFile() { std::fclose(file_); }
  DeadLetterFile(const DeadLetterFile&) = delete;
  DeadLetterFile& operator=(const DeadLetterFile&) = delete;

  void Add(std::string_view topic, int32_t partition, int64_t offset, std::string_view error,
           std::string_view payload) {
    line_.Clear();
    line_.StartObject().Key("topic").String(topic).Key("partition").Int(partition);
    line_.Key("offset").Int(offset).Key("error").String(error);
    WriteRecordFields(line_, "payload", payload);
    line_.EndObject();
    line_.EndLine();
    if (std::fwrite(line_.text().data(), 1, line_.size(), file_) != line_.size() && write_error_ == 0)
      write_error_ = errno ? errno : EIO;
    dirty_ = true;
  }

  Status Sync() {
    if (!dirty_) return absl::OkStatus();
    if (std::fflush(file_) != 0 && write_error_ == 0) write_error_ = errno;
    if (write_error_ == 0 && ::fdatasync(fileno(file_)) != 0) write_error_ = errno;
    if (write_error_ != 0)
      return absl::InternalError(
          Cat("cannot write the dead-letter file ", path_, ": ", std::strerror(write_error_)));
    dirty_ = false;
    return absl::OkStatus();
  }

 private:
  DeadLetterFile(std::FILE* f, std::string path) : file_(f), path_(std::move(path)) {}
  std::FILE* file_;
  std::string path_;
  JsonWriter line_;
  bool dirty_ = false;
  int write_error_ = 0;
};

// librdkafka repeats a failure every retry (a refused connection every second or so, with
// "(after 0ms in state CONNECT, 5 identical error(s) suppressed)" tails): each distinct failure
// is logged once at its level, its repeats at debug, until a broker answers again.
class OnceLog {
 public:
  // True the first time this message is seen since Reset. The same failure comes as a log line
  // ("[thrd:host/bootstrap]: host/bootstrap: Connect to ... failed: ... (after 0ms ...)") and as
  // an error callback without the thread prefix: the key is the text between the two.
  bool First(std::string_view message) {
    if (message.starts_with("[thrd:")) {
      size_t end = message.find("]: ");
      if (end != std::string_view::npos) message.remove_prefix(end + 3);
    }
    std::string key(message.substr(0, message.find(" (")));
    std::lock_guard lock(mu_);
    return seen_.insert(std::move(key)).second;
  }
  void Reset() {
    std::lock_guard lock(mu_);
    seen_.clear();
  }

 private:
  std::mutex mu_;  // librdkafka logs from its own threads
  std::set<std::string> seen_;
};

spdlog::level::level_enum LevelOnce(OnceLog* once, spdlog::level::level_enum lvl, std::string_view message) {
  if (once == nullptr || lvl < spdlog::level::warn) return lvl;
  return once->First(message) ? lvl : spdlog::level::debug;
}

// One consumer-group member. Run() and the librdkafka callbacks (served inside
// rd_kafka_consumer_poll and rd_kafka_consumer_close, on the caller's thread) share the batch
// state without a lock; only stats_ is shared with other threads.
void LogFromKafka(const rd_kafka_t* rk, int level, const char* facility, const char* message);

class KafkaIngestorImpl final : public KafkaIngestor {
 public:
  KafkaIngestorImpl(const KafkaConsumerOptions& options, RecordSink& sink,
                    const ImportConfig& limits, AfterDurableFn after_durable)
      : options_(options), sink_(sink), after_durable_(std::move(after_durable)),
        parser_(limits) {}

  ~KafkaIngestorImpl() override {
    if (!rk_) return;
    // Revokes the assignment through OnRebalance (committing nothing beyond what Flush made
    // durable) and leaves the group, so the partitions move to another member at once.
    if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_.get()); err)
      spdlog::warn("kafka: closing the consumer: {}", rd_kafka_err2str(err));
    rk_.reset();
  }

  Status Init() {
    if (options_.brokers.empty()) return absl::InvalidArgumentError("kafka: no brokers given");
    if (options_.topic.empty()) return absl::InvalidArgumentError("kafka: no topic given");
    if (options_.group.empty()) return absl::InvalidArgumentError("kafka: no consumer group given");
    if (options_.max_batch == 0) return absl::InvalidArgumentError("kafka: max_batch must be positive");
    if (options_.poll_timeout_ms < 0)
      return absl::InvalidArgumentError("kafka: poll_timeout_ms must not be negative");
    if (!options_.dead_letter_path.empty()) {
      FUNNEL_ASSIGN_OR_RETURN(dead_letters_, DeadLetterFile::Open(options_.dead_letter_path));
    }

    ConfHandle conf(rd_kafka_conf_new());
    FUNNEL_RETURN_IF_ERROR(Set(conf.get(), "bootstrap.servers", options_.brokers));
    FUNNEL_RETURN_IF_ERROR(Set(conf.get(), "group.id", options_.group));
    FUNNEL_RETURN_IF_ERROR(Set(conf.get(), "client.id", "funnel-ingest"));
    for (const auto& [key, value] : kDefaultConfig) FUNNEL_RETURN_IF_ERROR(Set(conf.get(), key, value));
    for (const auto& [key, value] : options_.extra_config) {
      for (const auto& [managed, _] : kManagedConfig)
        if (key == managed)
          return absl::InvalidArgumentError(
              Cat("kafka: ", key, " cannot be set: the ingestor commits offsets itself, only "
                  "after each batch is durable"));
      FUNNEL_RETURN_IF_ERROR(Set(conf.get(), key, value));
    }
    for (const auto& [key, value] : kManagedConfig)
      FUNNEL_RETURN_IF_ERROR(Set(conf.get(), key, value));
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaIngestorImpl::RebalanceCallback);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaIngestorImpl::ErrorCallback);
    rd_kafka_conf_set_log_cb(conf.get(), &LogFromKafka);

    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
    if (rk == nullptr) return absl::InvalidArgumentError(Cat("kafka: ", errstr));
    conf.release();  // owned by rk now
    rk_.reset(rk);
    // Errors and logs then arrive through rd_kafka_consumer_poll, on Run()'s thread.
    rd_kafka_poll_set_consumer(rk_.get());

    PartitionList topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), options_.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_.get(), topics.get()); err)
      return absl::InvalidArgumentError(
          Cat("kafka: cannot subscribe to ", options_.topic, ": ", rd_kafka_err2str(err)));
    return absl::OkStatus();
  }

  OnceLog& once_log() { return once_log_; }

  Status Run(const RunLimits& limits) override {
    if (!failed_.ok()) return failed_;
    uint64_t run_messages = 0;
    last_activity_ = Clock::now();
    // Until a broker shows itself, this run counts as without one.
    if (!broker_seen_) down_since_ = Clock::now();
    last_probe_ = Clock::time_point();
    const auto idle_limit = std::chrono::milliseconds(limits.idle_exit_ms);
    for (;;) {
      bool done = false;
      // Wait for a first message, then take what has already arrived without waiting: a
      // trickle is written at once, a flood in batches of max_batch.
      while (pending_messages_ < options_.max_batch) {
        if ((limits.stop && limits.stop()) ||
            (limits.max_messages > 0 && run_messages >= limits.max_messages) ||
            (limits.idle_exit_ms > 0 && assigned_once_ &&
             Clock::now() - last_activity_ >= idle_limit)) {
          done = true;
          break;
        }
        MessageHandle m(
            rd_kafka_consumer_poll(rk_.get(), pending_messages_ == 0 ? options_.poll_timeout_ms : 0));
        if (!failed_.ok()) return failed_;  // a callback inside the poll failed
        if (m && !m->err) BrokerUp();
        if (Status s = CheckBrokers(); !s.ok()) {
          Fail(s);
          return failed_;
        }
        if (!m) {
          if (pending_messages_ > 0) break;
          continue;
        }
        if (m->err) {
          if (Status s = OnConsumerError(*m); !s.ok()) {
            Fail(s);
            return failed_;
          }
          continue;
        }
        ++run_messages;
        last_activity_ = Clock::now();
        Add(*m);
      }
      FUNNEL_RETURN_IF_ERROR(Flush());
      if (done) return absl::OkStatus();
    }
  }

  IngestStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  static Status Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK)
      return absl::InvalidArgumentError(Cat("kafka: ", key, "=", value, ": ", errstr));
    return absl::OkStatus();
  }

  static void RebalanceCallback(rd_kafka_t*, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<KafkaIngestorImpl*>(opaque)->OnRebalance(err, partitions);
  }

  static void ErrorCallback(rd_kafka_t*, int err, const char* reason, void* opaque) {
    static_cast<KafkaIngestorImpl*>(opaque)->OnError(static_cast<rd_kafka_resp_err_t>(err), reason);
  }

  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk_.get()), "COOPERATIVE") == 0;
    {
      std::lock_guard lock(mu_);
      ++stats_.rebalances;
    }
    BrokerUp();  // a rebalance is a group coordinator's answer
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      spdlog::info("kafka: assigned {} partition(s) of group {}", partitions->cnt, options_.group);
      assigned_once_ = true;
      last_activity_ = Clock::now();
      if (cooperative) {
        ErrorHandle e(rd_kafka_incremental_assign(rk_.get(), partitions));
        if (e) Fail(absl::InternalError(Cat("kafka: assigning partitions: ", rd_kafka_error_string(e.get()))));
      } else if (rd_kafka_resp_err_t aerr = rd_kafka_assign(rk_.get(), partitions); aerr) {
        Fail(absl::InternalError(Cat("kafka: assigning partitions: ", rd_kafka_err2str(aerr))));
      }
      return;
    }
    // Revoked (or lost): the next owner starts at our last commit, so make the batch in
    // progress durable and commit it first. When the group already moved on, the commit fails
    // and the next owner re-reads the batch, which the sink deduplicates.
    spdlog::info("kafka: {} {} partition(s) of group {}",
                 err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? "revoking" : "lost",
                 partitions->cnt, options_.group);
    if (failed_.ok()) {
      (void)Flush();  // an error is kept in failed_ and returned by Run()
    } else {
      ClearPending();
    }
    if (cooperative) {
      ErrorHandle e(rd_kafka_incremental_unassign(rk_.get(), partitions));
      if (e) spdlog::warn("kafka: unassigning partitions: {}", rd_kafka_error_string(e.get()));
    } else if (rd_kafka_resp_err_t uerr = rd_kafka_assign(rk_.get(), nullptr); uerr) {
      spdlog::warn("kafka: unassigning partitions: {}", rd_kafka_err2str(uerr));
    }
  }

  void OnError(rd_kafka_resp_err_t err, const char* reason) {
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal[512];
      rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk_.get(), fatal, sizeof fatal);
      Fail(absl::InternalError(Cat("kafka: fatal error: ", rd_kafka_err2name(orig), ": ", fatal)));
      return;
    }
    // Everything else (a broker down, a timeout) librdkafka retries by itself; CheckBrokers
    // bounds how long.
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !down_since_) down_since_ = Clock::now();
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
        err == RD_KAFKA_RESP_ERR__RESOLVE)
      last_broker_error_ = reason;
    spdlog::log(LevelOnce(&once_log_, spdlog::level::warn, reason), "kafka: {}: {}",
                rd_kafka_err2name(err), reason);
  }

  void BrokerUp() {
    broker_seen_ = true;
    if (!down_since_) return;
    down_since_.reset();
    last_broker_error_.clear();
    once_log_.Reset();  // a later outage is logged again
  }

  // While no broker is known to be up: asks for metadata at most once a second (an answer
  // means one is up), and gives up after options_.give_up_after_ms.
  Status CheckBrokers() {
    if (!down_since_) return absl::OkStatus();
    const Clock::time_point now = Clock::now();
    if (now - last_probe_ >= std::chrono::seconds(1)) {
      last_probe_ = now;
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(rk_.get(), /*all_topics=*/0, nullptr, &md, /*timeout_ms=*/500) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
        BrokerUp();
        return absl::OkStatus();
      }
    }
    if (options_.give_up_after_ms <= 0 || now - *down_since_ < std::chrono::milliseconds(options_.give_up_after_ms))
      return absl::OkStatus();
    return absl::UnavailableError(
        Cat("kafka: no broker reachable at ", options_.brokers, " for ", options_.give_up_after_ms / 1000.0,
            " s", last_broker_error_.empty() ? std::string() : Cat(" (last error: ", last_broker_error_, ")"),
            "; giving up (raise [kafka] give_up_seconds, or 0 to retry forever)"));
  }

  // An error event returned by poll instead of a message.
  Status OnConsumerError(const rd_kafka_message_t& m) {
    if (m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return absl::OkStatus();
    std::string where = m.rkt ? Cat(" (", PartitionName(rd_kafka_topic_name(m.rkt), m.partition), ")") : "";
    std::string what(rd_kafka_message_errstr(&m));
    if (m.err == RD_KAFKA_RESP_ERR__FATAL) return absl::InternalError(Cat("kafka: ", what, where));
    spdlog::warn("kafka: {}{}: {}", rd_kafka_err2name(m.err), where, what);
    return absl::OkStatus();
  }

  void Add(const rd_kafka_message_t& m) {
    std::string_view topic = rd_kafka_topic_name(m.rkt);
    int64_t& last = pending_offsets_[{std::string(topic), m.partition}];
    last = std::max(last, m.offset);
    ++pending_messages_;

    std::string_view payload(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
    Event& e = pending_.emplace_back();
    Status s = payload.empty() ? absl::InvalidArgumentError("empty message")
                               : parser_.ParseEventCopy(payload, &e);
    std::lock_guard lock(mu_);
    ++stats_.consumed;
    if (s.ok()) return;
    pending_.pop_back();
    ++stats_.rejected;
    std::string message = Cat(PartitionName(topic, m.partition), "@", m.offset, ": ", MessageOf(s));
    if (stats_.rejected <= kLoggedRejects) spdlog::warn("kafka: rejected {}", message);
    if (stats_.rejected == kLoggedRejects)
      spdlog::warn("kafka: further rejected messages are only counted{}",
                   dead_letters_ ? " and dead-lettered" : "");
    if (stats_.first_errors.size() < IngestStats::kKeptErrors)
      stats_.first_errors.push_back(std::move(message));
    if (dead_letters_) dead_letters_->Add(topic, m.partition, m.offset, MessageOf(s), payload);
  }

  // Durable write, hook, commit; then the batch is done. An error leaves the batch
  // uncommitted (it is redelivered after a restart) and the ingestor failed.
  Status Flush() {
    if (pending_messages_ == 0) return absl::OkStatus();
    if (Status s = MakeDurable(); !s.ok()) {
      Fail(s);
      return s;
    }
    Commit();
    ClearPending();
    return absl::OkStatus();
  }

  Status MakeDurable() {
    if (!pending_.empty()) {
      StatusOr<AppendResult> r = sink_.Append(pending_);
      if (!r.ok())
        return absl::Status(r.status().code(),
                            Cat("kafka: writing to the event store: ", MessageOf(r.status())));
      std::vector<NameCount> types, fields;
      for (auto& [name, count] : parser_.NonstandardTypes()) types.push_back({name, count, ""});
      for (auto& [name, count] : parser_.UnknownFields())
        fields.push_back({name, count, std::string(JsonParser::SuggestField(name, RecordKind::kEvent))});
      std::lock_guard lock(mu_);
      ++stats_.batches;
      stats_.accepted += r->accepted;
      stats_.duplicates += r->duplicates;
      stats_.nonstandard_types = std::move(types);
      stats_.unknown_fields = std::move(fields);
    }
    if (dead_letters_) FUNNEL_RETURN_IF_ERROR(dead_letters_->Sync());
    if (after_durable_ && !pending_.empty()) {
      if (Status s = after_durable_(pending_); !s.ok())
        return absl::Status(s.code(), Cat("kafka: after the durable write: ", MessageOf(s)));
    }
    return absl::OkStatus();
  }

  // A failed commit is not an error: the events are durable, so the worst outcome is that the
  // batch is read again and deduplicated. Later commits cover it.
  void Commit() {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(pending_offsets_.size())));
    for (const auto& [tp, last] : pending_offsets_)
      rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = last + 1;
    rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), list.get(), /*async=*/0);
    std::unique_lock lock(mu_);
    for (int i = 0; i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& p = list->elems[i];
      if (!err && !p.err) stats_.committed[PartitionName(p.topic, p.partition)] = p.offset;
      else if (!err) err = p.err;
    }
    if (err) {
      ++stats_.commit_failures;
      lock.unlock();
      spdlog::warn("kafka: committing offsets failed ({}); the batch will be read again and "
                   "deduplicated", rd_kafka_err2str(err));
      return;
    }
    ++stats_.commits;
    if (!options_.on_commit) return;
    IngestStats snapshot = stats_;
    lock.unlock();
    options_.on_commit(snapshot);
  }

  void ClearPending() {
    pending_.clear();
    pending_offsets_.clear();
    pending_messages_ = 0;
  }

  void Fail(Status s) {
    if (failed_.ok()) {
      spdlog::error("{}", MessageOf(s));
      failed_ = std::move(s);
    }
    ClearPending();
  }

  // Constant after Init().
  const KafkaConsumerOptions options_;
  RecordSink& sink_;
  const AfterDurableFn after_durable_;
  std::unique_ptr<DeadLetterFile> dead_letters_;
  KafkaHandle rk_;

  // Used by Run() and the callbacks it serves.
  JsonParser parser_;
  std::vector<Event> pending_;  // good events of the batch in progress
  std::map<std::pair<std::string, int32_t>, int64_t> pending_offsets_;  // last offset, good or bad
  size_t pending_messages_ = 0;
  Status failed_;
  bool assigned_once_ = false;
  Clock::time_point last_activity_ = Clock::now();
  bool broker_seen_ = false;
  std::optional<Clock::time_point> down_since_;  // no broker known to be up since then
  Clock::time_point last_probe_;
  std::string last_broker_error_;
  OnceLog once_log_;

  mutable std::mutex mu_;
  IngestStats stats_;  // guarded by mu_
};

void LogFromKafka(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  // syslog levels: 0-3 errors, 4 warning, 5-6 notice/info, 7 debug.
  spdlog::level::level_enum lvl = level <= 3   ? spdlog::level::err
                                  : level == 4 ? spdlog::level::warn
                                  : level <= 6 ? spdlog::level::info
                                               : spdlog::level::debug;
  auto* impl = static_cast<KafkaIngestorImpl*>(rd_kafka_opaque(rk));
  spdlog::log(LevelOnce(impl ? &impl->once_log() : nullptr, lvl, message), "librdkafka {}: {}", facility,
              message);
}

}  // namespace

StatusOr<std::unique_ptr<KafkaIngestor>> KafkaIngestor::Create(const KafkaConsumerOptions& options,
                                                               RecordSink& sink,
                                                               const ImportConfig& limits,
                                                               AfterDurableFn after_durable) {
  auto ingestor = std::make_unique<KafkaIngestorImpl>(options, sink, limits, std::move(after_durable));
  FUNNEL_RETURN_IF_ERROR(ingestor->Init());
  return std::unique_ptr<KafkaIngestor>(std::move(ingestor));
}

}  // namespace funnel::events
