// funnel ingest kafka --brokers B --topic T --group G: stream events from Kafka into the store.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/record_tallies.h"
#include "funnel/events/kafka_consumer.h"
#include "funnel/serving/ingest_pipeline.h"

namespace funnel::cli {

namespace {

struct IngestArgs {
  std::string brokers, topic, group;
  std::string dead_letter;
  uint64_t max_events = 0;
  int idle_exit_ms = 0;
  int batch = 5000;
  std::vector<std::string> kafka_options;  // KEY=VALUE
  bool print_commits = false;
};

// Set by SIGINT/SIGTERM; the run loop sees it within one poll timeout, finishes its batch and
// commits. Lock-free atomics are safe to store from a signal handler.
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnStopSignal(int) { g_stop_requested.store(true); }

void InstallStopHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  // A second signal gets the default action, so an impatient user can still kill it at once.
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void PrintSummary(const IngestArgs& args, const events::IngestStats& st, double seconds) {
  std::cout << fmt::format(
      "kafka {} (group {}): {}, {} accepted, {} skipped, {} rejected "
      "({:.2f} s, {})\n",
      args.topic, args.group, Count(st.consumed, "message"), WithCommas(st.accepted),
      Count(st.duplicates, "duplicate"), WithCommas(st.rejected), seconds, Count(st.commits, "commit"));
  if (st.commit_failures > 0)
    std::cout << "  " << Count(st.commit_failures, "commit") << " failed (their events will be read again and deduplicated)\n";
  for (const auto& [partition, offset] : st.committed)
    std::cout << fmt::format("  committed {} at offset {}\n", partition, offset);
  PrintRecordTallies(st.nonstandard_types, st.unknown_fields, std::cout);
  for (const auto& e : st.first_errors) std::cout << "  rejected " << e << "\n";
  if (st.rejected > st.first_errors.size())
    std::cout << "  ... and " << WithCommas(st.rejected - st.first_errors.size())
              << (args.dead_letter.empty() ? " more (use --dead-letter FILE to keep them all)\n"
                                           : fmt::format(" more, all in {}\n", args.dead_letter));
}

int RunIngestKafka(const CommonOptions& common, const IngestArgs& args) {
  StatusOr<Config> cfg = common.LoadConfig();
  if (!cfg.ok()) return Fail(cfg.status());

  events::KafkaConsumerOptions opts;
  opts.brokers = args.brokers;
  opts.topic = args.topic;
  opts.group = args.group;
  opts.max_batch = static_cast<size_t>(args.batch);
  opts.dead_letter_path = args.dead_letter;
  opts.give_up_after_ms = static_cast<int>(std::min(cfg->kafka.give_up_seconds * 1000.0, 2e9));
  for (const std::string& kv : args.kafka_options) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Fail(absl::InvalidArgumentError(Cat("-X ", kv, ": expected KEY=VALUE")));
    opts.extra_config[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (args.print_commits) {
    // For tools (and the kill -9 test): once this line is printed, every message up to the
    // committed offsets is durable in the store.
    opts.on_commit = [](const events::IngestStats& st) {
      std::printf("committed %llu %llu %llu\n", static_cast<unsigned long long>(st.consumed),
                  static_cast<unsigned long long>(st.accepted),
                  static_cast<unsigned long long>(st.duplicates));
      std::fflush(stdout);
    };
  }

  StatusOr<std::unique_ptr<serving::IngestPipeline>> ingest = serving::IngestPipeline::Open(common.data_dir, common.sources, *cfg);
  if (!ingest.ok()) return Fail(ingest.status());

  InstallStopHandlers();
  auto start = std::chrono::steady_clock::now();
  events::IngestStats st;
  Status run;
  {
    StatusOr<std::unique_ptr<events::KafkaIngestor>> ingestor =
        events::KafkaIngestor::Create(opts, (*ingest)->sink(), cfg->import);
    if (!ingestor.ok()) return Fail(ingestor.status());
    events::RunLimits limits;
    limits.stop = [] { return g_stop_requested.load(std::memory_order_relaxed); };
    limits.max_messages = args.max_events;
    limits.idle_exit_ms = args.idle_exit_ms;
    run = (*ingestor)->Run(limits);
    st = (*ingestor)->stats();
  }  // leaves the group before the summary, so a restarted consumer is not kept waiting
  if (Status s = (*ingest)->Close(); !s.ok() && run.ok()) run = s;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PrintSummary(args, st, seconds);
  if (!run.ok()) return Fail(run);
  return st.rejected > 0 ? kExitRejected : kExitOk;
}

}  // namespace

void AddIngestCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* ingest = app.add_subcommand("ingest", "Stream events into the store from a message log");
  ingest->require_subcommand(1);
  auto args = std::make_shared<IngestArgs>();

  CLI::App* kafka = ingest->add_subcommand(
      "kafka",
      "Consume JSON events (one per message) from a Kafka topic as a consumer group member. "
      "Offsets are committed only after the events are durable; redelivered events are "
      "deduplicated. Runs until SIGINT/SIGTERM (finishes the batch, commits, exits) or a limit.");
  AddCommonFlags(kafka, common);
  kafka->add_option("--brokers", args->brokers, "Bootstrap servers, host:port[,host:port...]")->required();
  kafka->add_option("--topic", args->topic, "Topic to consume")->required();
  kafka->add_option("--group", args->group, "Consumer group id (members split the partitions)")->required();
  kafka->add_option("--dead-letter", args->dead_letter,
                    "Append every bad message (topic, partition, offset, error, payload) to this "
                    "JSON Lines file");
  kafka->add_option("--max-events", args->max_events, "Stop after this many messages (0: no limit)");
  kafka->add_option("--idle-exit-ms", args->idle_exit_ms,
                    "Stop after this long without a message, counted from the first partition "
                    "assignment (0: never)")
      ->check(CLI::NonNegativeNumber);
  kafka->add_option("--batch", args->batch, "Messages per durable write and offset commit")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  kafka->add_option("-X,--kafka-option", args->kafka_options,
                    "librdkafka property KEY=VALUE (repeatable), e.g. -X security.protocol=ssl");
  kafka->add_flag("--print-commits", args->print_commits,
                  "Print 'committed MESSAGES ACCEPTED DUPLICATES' after each offset commit");
  kafka->callback([&common, args, exit_code] { *exit_code = RunIngestKafka(common, *args); });
}

}  // namespace funnel::cli
