// funnel train [--until T]: fit every stage on the events before T, register a model version.
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "funnel/model/model_registry.h"
#include "funnel/training/retrieval_options.h"

namespace funnel::cli {

namespace {

struct TrainArgs {
  std::string until;
};

Status RunTrain(const CommonOptions& common, const TrainArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  FUNNEL_ASSIGN_OR_RETURN(training::RetrievalTrainOptions topt, training::RetrievalTrainOptionsFromConfig(cfg));
  FUNNEL_ASSIGN_OR_RETURN(topt.store_features, LoadFeatureSpecs(cfg));
  Timestamp until = Timestamp::Max();
  if (!args.until.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(until, ParseTime(args.until));
  }
  FUNNEL_ASSIGN_OR_RETURN(training::TrainedRetrieval trained, training::TrainRetrieval(*store, cfg.events, until, topt));
  FUNNEL_ASSIGN_OR_RETURN(model::ModelRegistry registry, model::ModelRegistry::Open(common.data_dir, common.sources));
  FUNNEL_ASSIGN_OR_RETURN(std::string version, registry.Register(trained, *store));
  std::cout << fmt::format("model {} trained on {}{} in {:.1f} s ({}, {}); now current\n", version,
                           Count(trained.training_events, "event"),
                           until == Timestamp::Max() ? std::string() : " before " + FormatUtc(until), trained.seconds,
                           Count(trained.num_users, "user"), Count(trained.num_items, "item"));
  std::cout << fmt::format("{:<10} {:>6} {:>7}\n", "source", "quota", "weight");
  for (const auto& s : trained.slots)
    std::cout << fmt::format("{:<10} {:>6} {:>7.3g}\n", s.source->name(), s.quota, s.weight);
  if (!trained.untuned.empty())
    std::cout << "tuning skipped: " << trained.untuned << "\n";
  if (!trained.validation.empty()) {
    std::cout << fmt::format("validation carve-out ({}, the last {:.0f}% of the training events):\n",
                             Count(trained.validation_users, "user"), topt.validation_fraction * 100);
    std::cout << fmt::format("{:<22} {:>8} {:>9} {:>9}  {}\n", "", "NDCG@10", "Recall@20", "HitRate@10", "chosen");
    for (const auto& v : trained.validation)
      std::cout << fmt::format("{:<22} {:>8.4f} {:>9.4f} {:>9.4f}   {}\n", v.name, v.metrics.ndcg10.mean,
                               v.metrics.recall20.mean, v.metrics.hit10.mean, v.params);
  }
  if (!trained.ranking_verdict.empty()) std::cout << "ranking: " << trained.ranking_verdict << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddTrainCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand("train", "Fit every stage on events before --until and register a model version");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<TrainArgs>();
  sub->add_option("--until", args->until, "Train on events before this time: Unix seconds, a date or an RFC 3339 date-time (default: all)");
  sub->callback([&common, args, exit_code] {
    Status s = RunTrain(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
