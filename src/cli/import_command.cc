// funnel import (events|items|users) FILE, funnel import movielens DIR
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/record_tallies.h"
#include <fmt/format.h>

#include "funnel/events/jsonl_importer.h"
#include "funnel/events/movielens_importer.h"
#include "funnel/serving/ingest_pipeline.h"

namespace funnel::cli {

namespace {

struct ImportArgs {
  std::string input;
  std::string rejects;
  int batch = 0;  // 0: store.commit_batch from config
  bool print_commits = false;
  bool no_online = false;
};

void PrintReport(const events::ImportReport& r, std::ostream& out) {
  double rate = r.seconds > 0 ? (r.accepted + r.duplicates) / r.seconds : 0;
  out << fmt::format("{}: {} accepted, {} skipped, {} rejected ({:.2f} s, {} records/s)\n",
                               r.source, WithCommas(r.accepted), Count(r.duplicates, "duplicate"),
                               WithCommas(r.rejected), r.seconds, WithCommas(uint64_t(rate)));
  for (const auto& e : r.first_errors) out << "  rejected " << e << "\n";
  if (r.rejected > r.first_errors.size())
    out << "  ... and " << WithCommas(r.rejected - r.first_errors.size())
              << " more (use --rejects FILE to keep them all)\n";
  PrintRecordTallies(r.nonstandard_types, r.unknown_fields, out);
}

// 1 when nothing was accepted (an empty input, or every record refused): a script that imports
// and then trains should stop there. Duplicates count as accepted: that data is stored.
int ExitCodeOf(const events::ImportReport& r) {
  if (r.records() == 0) {
    std::cerr << "funnel: " << r.source
              << (r.lines == 0 ? std::string(": the file is empty (0 records)\n")
                  : r.lines == 1 ? std::string(": no records, only 1 blank line\n")
                                 : fmt::format(": no records, only {} blank lines\n", WithCommas(r.lines)));
    return kExitFailure;
  }
  if (r.accepted + r.duplicates == 0) {
    std::cerr << "funnel: " << r.source << ": no record accepted, all " << WithCommas(r.rejected)
              << " rejected\n";
    return kExitFailure;
  }
  return r.rejected > 0 ? kExitRejected : kExitOk;
}

constexpr const char* kExitCodesHelp =
    "Exit status: 0 every record stored (or already stored: a re-import is fine); "
    "2 some records rejected, the others stored; "
    "1 nothing accepted (an empty input, or every record rejected) or the import failed.\n";

int RunImport(const CommonOptions& common, const ImportArgs& args, std::string_view what) {
  StatusOr<Config> cfg = common.LoadConfig();
  if (!cfg.ok()) return Fail(cfg.status());
  // Imports feed the online features batch by batch, so they are current when the import ends.
  StatusOr<std::unique_ptr<serving::IngestPipeline>> ingest = serving::IngestPipeline::Open(
      common.data_dir, common.sources, *cfg, {.online = !args.no_online, .feeding = serving::kFileFeeding});
  if (!ingest.ok()) return Fail(ingest.status());
  events::RecordSink& sink = (*ingest)->sink();

  events::ImportOptions opts;
  opts.batch_size = args.batch > 0 ? args.batch : cfg->store.commit_batch;
  opts.rejects_path = args.rejects;
  opts.progress = true;
  if (args.print_commits) {
    // For tools (and the kill -9 test): after this line is printed, every record up to the
    // named input line is durable.
    opts.on_commit = [](const std::string& source, uint64_t line, const events::ImportReport& r) {
      std::printf("committed %s %llu %llu\n", source.c_str(), static_cast<unsigned long long>(line),
                  static_cast<unsigned long long>(r.accepted));
      std::fflush(stdout);
    };
  }
  StatusOr<events::ImportReport> report;
  if (what == "movielens") {
    report = events::ImportMovieLens(args.input, sink, opts);
  } else {
    events::RecordKind kind = what == "events" ? events::RecordKind::kEvent
                              : what == "items" ? events::RecordKind::kItem
                                                : events::RecordKind::kUser;
    report = events::ImportJsonLines(args.input, kind, sink, cfg->import, opts);
  }
  // Kept whatever the import's outcome: what was folded came from stored events.
  Status flushed = (*ingest)->Close();
  if (!report.ok()) return Fail(report.status());
  if (!flushed.ok()) return Fail(flushed);
  // With --rejects -, stdout carries the rejected records alone; the summary moves to stderr.
  if (report->records() > 0) PrintReport(*report, args.rejects == "-" ? std::cerr : std::cout);
  return ExitCodeOf(*report);
}

}  // namespace

void AddImportCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* import = app.add_subcommand("import", "Import events, items, users or a MovieLens data set");
  import->require_subcommand(1);
  auto args = std::make_shared<ImportArgs>();

  struct Kind {
    const char* name;
    const char* help;
    const char* input_help;
  };
  const Kind kinds[] = {
      {"events", "Import events from JSON Lines (one event object per line)", "JSON Lines file, or - for stdin"},
      {"items",
       "Import item metadata from JSON Lines. Each record updates the stored item: fields it leaves out keep "
       "their value, null clears one, attributes merge key by key (RFC 7396 JSON Merge Patch)",
       "JSON Lines file, or - for stdin"},
      {"users",
       "Import user attributes from JSON Lines: {\"user\":..,\"attributes\":{..}}, merged into the stored "
       "attributes key by key (a null value deletes a key)",
       "JSON Lines file, or - for stdin"},
      {"movielens", "Import a MovieLens directory (ml-100k, ml-1m/10m, ml-latest/20m/25m; auto-detected)", "MovieLens directory"},
  };
  for (const Kind& k : kinds) {
    CLI::App* sub = import->add_subcommand(k.name, k.help);
    sub->footer(kExitCodesHelp);
    AddCommonFlags(sub, common);
    sub->add_option("input", args->input, k.input_help)->required();
    sub->add_option("--rejects", args->rejects, "Append every rejected record, with its error, to this JSON Lines file (- for stdout; the summary then goes to stderr)");
    sub->add_option("--batch", args->batch, "Records per durable commit (default: store.commit_batch)")
        ->check(CLI::PositiveNumber);
    sub->add_flag("--print-commits", args->print_commits,
                  "Print 'committed SOURCE LINE ACCEPTED' after each durable commit");
    sub->add_flag("--no-online", args->no_online,
                  "Do not update the online features now (the next command that opens them catches up)");
    std::string what = k.name;
    sub->callback([&common, args, exit_code, what] { *exit_code = RunImport(common, *args, what); });
  }
}

}  // namespace funnel::cli
