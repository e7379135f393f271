// funnel features --user ID [--item ID] [--at T]       named feature values as of T
// funnel features dataset --until T --out FILE         point-in-time training rows
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "funnel/features/dataset_builder.h"
#include "funnel/features/feature_fold.h"
#include "funnel/serving/request_pipeline.h"

namespace funnel::cli {

namespace {

struct FeaturesArgs {
  std::string user, item, at;
  std::string until, out;
  bool list = false;
  int negatives = 2;
  uint64_t seed = 1;
  int threads = 0;
};

// Which features read the item (the others print without --item).
bool NeedsItem(const std::vector<features::FeatureSpec>& specs, const features::FeatureSpec& f) {
  if (f.aggregation == features::Aggregation::kStatic) return f.source.starts_with("item.");
  if (f.aggregation == features::Aggregation::kRatio) {
    for (const auto& s : specs)
      if (s.name == f.numerator || s.name == f.denominator)
        if (NeedsItem(specs, s)) return true;
    return false;
  }
  return f.entity != features::Entity::kUser && f.entity != features::Entity::kGlobal;
}

Status ListFeatures(const CommonOptions& common) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto specs, LoadFeatureSpecs(cfg));
  for (const auto& f : specs) {
    std::string what;
    if (f.aggregation == features::Aggregation::kStatic) {
      what = Cat("static ", f.source);
    } else if (f.aggregation == features::Aggregation::kRatio) {
      what = Cat("ratio ", f.numerator, " / ", f.denominator);
    } else {
      what = Cat(features::EntityName(f.entity), " ");
      for (const auto& [t, w] : f.types) what += Cat(t, "=", w, " ");
      if (f.half_life_seconds > 0) what += Cat("half-life ", f.half_life_seconds / 3600, "h");
      if (f.window_seconds > 0) what += Cat("window ", f.window_seconds / 3600, "h");
    }
    std::cout << fmt::format("  {:<36} {}\n", f.name, what);
  }
  return absl::OkStatus();
}

Status ShowFeatures(const CommonOptions& common, const FeaturesArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto specs, LoadFeatureSpecs(cfg));
  // Read-only: a data dir without a store is an error, not a new empty store.
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  Timestamp at = serving::DefaultRequestTime(*store);  // the data's present (README: time)
  if (!args.at.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(at, ParseTime(args.at));
  }
  if (!args.item.empty() && !store->FindItem(args.item))
    return absl::NotFoundError(Cat("unknown item '", args.item, "'"));
  // The online store answers, as a server would: what the events before `at` make of the user
  // (a time it has folded past is replayed from the event store, point-in-time).
  FUNNEL_ASSIGN_OR_RETURN(auto online, OpenOnlineFeatures(common, cfg, *store));
  std::vector<std::string> items = {args.item};
  FUNNEL_ASSIGN_OR_RETURN(features::FeatureMatrix x, online->Compute(args.user, items, at));
  std::cout << "features of user " << args.user << (args.item.empty() ? std::string() : " and item " + args.item)
            << " as of " << FormatUtc(at) << " (online store: " << online->backend() << ")\n";
  if (!store->FindUser(args.user)) std::cout << "(user '" << args.user << "' has no events: values are defaults)\n";
  for (size_t i = 0; i < x.cols; ++i) {
    const std::string& name = online->names()[i];
    auto f = std::find_if(specs.begin(), specs.end(), [&](const auto& s) { return s.name == name; });
    if (args.item.empty() && NeedsItem(specs, *f)) continue;
    float v = x.values[i];
    std::cout << fmt::format("  {:<36} {}\n", name, std::isnan(v) ? std::string("missing") : fmt::format("{:.6g}", v));
  }
  return absl::OkStatus();
}

Status BuildDatasetCommand(const CommonOptions& common, const FeaturesArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto specs, LoadFeatureSpecs(cfg));
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  features::DatasetOptions opt;
  if (!args.until.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(opt.until, ParseTime(args.until));
  }
  opt.negatives_per_positive = args.negatives;
  opt.seed = args.seed;
  opt.threads = args.threads;
  FUNNEL_ASSIGN_OR_RETURN(features::DatasetSummary s,
                          features::BuildDataset(*store, std::move(specs), cfg.events, opt, args.out));
  std::cout << fmt::format(
      "{}: {} rows ({} impressions, {} engagements, {} negatives) x {} features from {} events "
      "in {:.2f} s\n",
      args.out, WithCommas(s.rows), WithCommas(s.impression_rows), WithCommas(s.engagement_rows),
      WithCommas(s.negative_rows), s.features, WithCommas(s.events), s.seconds);
  return absl::OkStatus();
}

}  // namespace

void AddFeaturesCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand("features", "Feature values as of a time, and point-in-time training datasets");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<FeaturesArgs>();
  sub->add_option("--user", args->user, "User id");
  sub->add_option("--item", args->item, "Item id (adds item and user x item features)");
  sub->add_option("--at", args->at, "Time: Unix seconds or ISO-8601 (default: the data's present, just past the newest stored event)");
  sub->add_flag("--list", args->list, "List the feature definitions in force (config or shipped set)");
  CLI::App* dataset = sub->add_subcommand("dataset", "Write training rows with point-in-time features (docs/formats/dataset.md)");
  AddCommonFlags(dataset, common);
  dataset->add_option("--until", args->until, "Read only events before this time (default: all)");
  dataset->add_option("--out", args->out, "Output file")->required();
  dataset->add_option("--negatives", args->negatives, "Sampled negatives per positive engagement")
      ->capture_default_str()->check(CLI::Range(0, 100));
  dataset->add_option("--seed", args->seed, "Seed for negative sampling")->capture_default_str();
  dataset->add_option("--threads", args->threads,
                      "1: all on one thread; 2: rows are written on a second thread (same bytes); 0: 2 when there are two cores")
      ->capture_default_str()->check(CLI::Range(0, 64));
  dataset->callback([&common, args, exit_code] {
    Status s = BuildDatasetCommand(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
  sub->callback([sub, dataset, &common, args, exit_code] {
    if (dataset->parsed()) return;
    if (args->list) {
      Status s = ListFeatures(common);
      *exit_code = s.ok() ? kExitOk : Fail(s);
      return;
    }
    if (args->user.empty()) {
      *exit_code = Fail(absl::InvalidArgumentError("features: give --user ID (or use `funnel features dataset`)"));
      return;
    }
    Status s = ShowFeatures(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
