// Streams events from a Kafka topic into a RecordSink (the event store), one JSON event per
// message, as a member of a consumer group.
//
// Delivery: Kafka gives at-least-once; idempotent ingestion makes it effectively-once. Each
// polled batch goes through three steps, in order, and a later step runs only when the earlier
// ones succeeded:
//   1. sink.Append(batch)       durable, and deduplicated on each event's DedupeKey();
//   2. after_durable(batch)     the optional next consumer of the stream (the online features);
//   3. commit the batch's offsets synchronously (last offset + 1 per partition).
// A crash anywhere before step 3 redelivers the batch after the restart: the sink skips what it
// already holds, and after_durable sees those events again (see below). A crash after step 3
// redelivers nothing. Offsets are never committed past an event that is not durable.
//
// Bad messages (not JSON, a missing or invalid field, empty) are counted, logged as
// `topic[partition]@offset: <error>`, appended to the dead-letter file when one is configured,
// and their offsets are committed with the batch: a bad message never blocks its partition.
//
// Rebalances: when partitions are revoked, the batch in progress is made durable and committed
// before the rebalance proceeds, so the next owner starts after it.
//
//   KafkaConsumerOptions opt{.brokers = "localhost:9092", .topic = "events", .group = "funnel"};
//   FUNNEL_ASSIGN_OR_RETURN(auto ingestor, KafkaIngestor::Create(opt, *store, cfg.import));
//   std::atomic<bool> stop{false};  // set from a signal handler or another thread
//   FUNNEL_RETURN_IF_ERROR(ingestor->Run({.stop = [&] { return stop.load(); }}));
//   IngestStats st = ingestor->stats();
// Thread-safety: one KafkaIngestor is driven by one thread (Run); stats() after Run returns.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/events/event.h"
#include "funnel/events/import_report.h"
#include "funnel/events/record_sink.h"

namespace funnel::events {

// What an ingestor did since it was created.
struct IngestStats {
  uint64_t consumed = 0;    // messages received (good and bad)
  uint64_t accepted = 0;    // events newly stored
  uint64_t duplicates = 0;  // events the sink already held (redeliveries, repeated ids)
  uint64_t rejected = 0;    // bad messages, skipped
  uint64_t batches = 0;     // durable writes
  uint64_t commits = 0;     // successful offset commits
  uint64_t commit_failures = 0;  // commits that failed; their events are redelivered later
  uint64_t rebalances = 0;  // assignment changes seen
  // Next offset to read per "topic[partition]", as last committed by this ingestor.
  std::map<std::string, int64_t> committed;
  std::vector<std::string> first_errors;  // "topic[p]@offset: message", at most kKeptErrors
  // As in an import's summary (import_report.h): over the good messages, most frequent first.
  std::vector<NameCount> nonstandard_types;
  std::vector<NameCount> unknown_fields;
  static constexpr size_t kKeptErrors = 20;
};

// Members have default initializers so designated initializers may leave any of them out.
struct KafkaConsumerOptions {
  std::string brokers{};  // bootstrap.servers, e.g. "host1:9092,host2:9092"
  std::string topic{};
  std::string group{};  // consumer group id: consumers sharing it split the partitions
  size_t max_batch = 5000;   // messages per durable write and commit
  int poll_timeout_ms = 100;  // how long one poll waits; also bounds how late a stop is seen
  std::string dead_letter_path{};  // when set, bad messages are appended here as JSON Lines
  // Further librdkafka properties (security, timeouts, client.id ...). They override the
  // ingestor's defaults, which favour freshness: fetch.wait.max.ms=10 (librdkafka's 500 lets a
  // broker that holds empty fetches delay each event by up to half a second) and
  // auto.offset.reset=earliest. The properties the delivery guarantee depends on
  // (enable.auto.commit, enable.auto.offset.store) are set by the ingestor; setting them here
  // is an error.
  std::map<std::string, std::string> extra_config{};
  // Run fails with Unavailable after this long without a reachable broker, counted from the
  // start of the run or from the moment every broker went down (0: retry forever, as
  // librdkafka does). A broker is reachable when a message, an assignment or a metadata
  // answer arrives.
  int give_up_after_ms = 60000;
  // Called after each successful commit with the stats so far (for progress output and tests).
  std::function<void(const IngestStats&)> on_commit{};
};

// Called after each batch is durable in the sink and before its offsets are committed, with
// every good event of the batch. Events redelivered after a crash or a failed commit are passed
// again, so the callee must be idempotent (an online-feature fold keyed on event ids is).
// Passing only newly stored events would lose them for the callee when a crash falls between
// the sink write and this call. Returning an error stops ingestion without committing.
using AfterDurableFn = std::function<Status(std::span<const Event>)>;

// When Run returns. Every limit is optional.
struct RunLimits {
  std::function<bool()> stop{};  // polled between messages; true ends the run after the batch
  uint64_t max_messages = 0;   // end after this many messages in this run (0: no limit)
  // End after this long without a message, counted from the first partition assignment (the
  // group join can take seconds) and reset by every message (0: no limit).
  int idle_exit_ms = 0;
};

// Run() from one thread at a time; stats() is safe from any thread, also during Run().
class KafkaIngestor {
 public:
  // Connects and subscribes; fails on invalid options or configuration. Committed offsets of
  // the group are where consumption resumes; a new group starts at the earliest offset.
  // `sink` and the hook must outlive the ingestor.
  static StatusOr<std::unique_ptr<KafkaIngestor>> Create(const KafkaConsumerOptions& options,
                                                         RecordSink& sink,
                                                         const ImportConfig& limits,
                                                         AfterDurableFn after_durable = nullptr);
  // Leaves the group (committing nothing that is not durable) and closes the connection.
  virtual ~KafkaIngestor() = default;

  // Consumes until a limit in `limits` is reached (OK) or an error: the sink or the hook
  // failed, or a fatal consumer error. The batch in progress when a limit is reached is
  // finished and committed. After an error nothing of the failed batch is committed and the
  // ingestor is unusable (every later Run returns the same error): destroy it and create a new
  // one, which resumes from the committed offsets.
  virtual Status Run(const RunLimits& limits) = 0;

  virtual IngestStats stats() const = 0;
};

}  // namespace funnel::events
