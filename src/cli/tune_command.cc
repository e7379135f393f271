// funnel tune [--budget S] [--out FILE]: random search over the retrieval sources' parameters
// on validation carve-outs, within a time budget; writes the best config.
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "funnel/core/toml_table.h"
#include "funnel/training/retrieval_tuner.h"
#include "funnel/training/retrieval_options.h"

namespace funnel::cli {

namespace {

struct TuneArgs {
  double budget = 600;
  uint64_t seed = 1;
  std::string out = "funnel-tuned.toml";
  std::string until;
};

Status RunTune(const CommonOptions& common, const TuneArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  FUNNEL_ASSIGN_OR_RETURN(training::RetrievalTrainOptions base, training::RetrievalTrainOptionsFromConfig(cfg));
  training::TuneOptions topt;
  topt.budget_seconds = args.budget;
  topt.seed = args.seed;
  if (!args.until.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(topt.until, ParseTime(args.until));
  }
  FUNNEL_ASSIGN_OR_RETURN(training::TuneReport r, training::TuneRetrieval(*store, cfg.events, base, topt));
  // With --out -, stdout carries the config alone (to pipe or redirect); the table moves to stderr.
  std::ostream& table = args.out == "-" ? std::cerr : std::cout;
  table << fmt::format("{} in {:.1f} s; validation objective 0.5·(NDCG@10 + Recall@20) of the fused list:\n",
                           Count(r.trials.size(), "trial"), r.seconds);
  for (size_t i = 0; i < r.trials.size(); ++i)
    table << fmt::format("  {}{:>3} {:.4f} (NDCG@10 {:.4f})  {}\n", i == r.best_trial ? "*" : " ", i,
                             r.trials[i].objective, r.trials[i].fused.ndcg10.mean,
                             i == 0 ? "the current configuration" : r.trials[i].params);

  // The user's config with its [retrieval] table replaced by the tuned one.
  std::string kept;
  if (!cfg.source_text.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(TomlDocument doc, TomlDocument::Parse(cfg.source_text, cfg.source_name));
    kept = doc.TextWithout("retrieval") + "\n\n";
  }
  std::ofstream file;
  if (args.out != "-") file.open(args.out);
  std::ostream& out = args.out == "-" ? std::cout : file;
  out << "# Written by `funnel tune` (best of " << Count(r.trials.size(), "trial") << ", trial " << r.best_trial
      << "); use it with --config.\n"
      << kept << training::RetrievalOptionsToml(r.best);
  out.flush();
  if (!out) return absl::InternalError(Cat("cannot write ", args.out));
  if (args.out == "-") return absl::OkStatus();
  file.close();
  if (!file) return absl::InternalError(Cat("cannot write ", args.out));
  std::cout << "wrote " << args.out << " (train with: funnel train --config " << args.out << ")\n";
  return absl::OkStatus();
}

}  // namespace

void AddTuneCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand(
      "tune", "Random search over the retrieval sources' parameters on validation carve-outs; writes the best config");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<TuneArgs>();
  sub->add_option("--budget", args->budget, "Seconds to search (the first trial always completes)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--seed", args->seed, "Seed of the search")->capture_default_str();
  sub->add_option("--out", args->out, "Where to write the tuned config (- for stdout; the trials then go to stderr)")->capture_default_str();
  sub->add_option("--until", args->until, "Tune on events before this time (default: all)");
  sub->callback([&common, args, exit_code] {
    Status s = RunTune(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
