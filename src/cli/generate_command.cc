// funnel generate --out DIR: a synthetic short-video platform (funnel/events/generator.h).
#include <chrono>
#include <cstdint>
#include <iostream>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "funnel/events/generator.h"

namespace funnel::cli {
namespace {

struct GenerateArgs {
  std::string out;
  // Wider than the library's uint32_t so `--users -1` is reported by us rather than wrapping.
  int64_t users = 5000;
  int64_t items = 20000;
  int64_t days = 30;
  uint64_t seed = 42;
  int64_t drift_day = 0;
};

StatusOr<uint32_t> Narrow(const char* flag, int64_t value) {
  if (value < 0 || value > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " must be a non-negative count, got ", value));
  }
  return static_cast<uint32_t>(value);
}

StatusOr<events::GeneratorOptions> ToOptions(const GenerateArgs& args) {
  events::GeneratorOptions options;
  FUNNEL_ASSIGN_OR_RETURN(options.users, Narrow("--users", args.users));
  FUNNEL_ASSIGN_OR_RETURN(options.items, Narrow("--items", args.items));
  FUNNEL_ASSIGN_OR_RETURN(options.days, Narrow("--days", args.days));
  FUNNEL_ASSIGN_OR_RETURN(options.drift_day, Narrow("--drift-day", args.drift_day));
  options.seed = args.seed;
  options.out_dir = args.out;
  FUNNEL_RETURN_IF_ERROR(events::ValidateGeneratorOptions(options));
  return options;
}

int RunGenerate(const GenerateArgs& args, const CommonOptions& common) {
  if (auto config = common.LoadConfig(); !config.ok()) return Fail(config.status());
  auto options = ToOptions(args);
  if (!options.ok()) return Fail(options.status());
  // Elapsed time is only reported, never used by the generator (time is an argument).
  const auto start = std::chrono::steady_clock::now();
  auto summary = events::GeneratePlatform(*options);
  if (!summary.ok()) return Fail(summary.status());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << fmt::format("generated {}, {}, {} ({}, {}, {}) in {:.2f} s into {}\n",
                           Count(summary->users, "user"), Count(summary->items, "item"),
                           Count(summary->events, "event"), Count(summary->impressions, "impression"),
                           Count(summary->sessions, "session"), Count(summary->drifted_users, "drifted user"),
                           seconds, options->out_dir);
  return kExitOk;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* sub = app.add_subcommand(
      "generate",
      "Synthetic short-video platform: items.jsonl, events.jsonl and the hidden truth.jsonl");
  AddCommonFlags(sub, common);
  sub->add_option("--out", args->out, "Output directory (created when missing)")->required();
  sub->add_option("--users", args->users, "Number of users")->capture_default_str();
  sub->add_option("--items", args->items, "Number of items (videos)")->capture_default_str();
  sub->add_option("--days", args->days, "Days of activity, starting 2023-11-14 (ts 1700000000)")
      ->capture_default_str();
  sub->add_option("--seed", args->seed, "Random seed; the same arguments give the same bytes")
      ->capture_default_str();
  sub->add_option("--drift-day", args->drift_day,
                  "Day on which a share of users change tastes (0 = no drift)")
      ->capture_default_str();
  sub->callback([args, &common, exit_code] { *exit_code = RunGenerate(*args, common); });
}

}  // namespace funnel::cli
