// funnel features --user ID [--item ID] [--at T]       named feature values as of T
// funnel features dataset --until T --out FILE         point-in-time training rows
#include <chrono>
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

namespace funnel::cli {

namespace {

struct FeaturesArgs {
  std::string user, item, at;
  std::string until, out;
  int negatives = 2;
  uint64_t seed = 1;
};

// The feature definitions of the config file, or the shipped defaults.
StatusOr<std::vector<features::FeatureSpec>> LoadSpecs(const CommonOptions& common) {
  if (common.config_path.empty()) return features::DefaultFeatureSpecs();
  std::ifstream in(common.config_path);
  std::stringstream text;
  text << in.rdbuf();
  return features::ParseFeatureSpecs(text.str(), common.config_path);
}

Status ShowFeatures(const CommonOptions& common, const FeaturesArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto specs, LoadSpecs(common));
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  Timestamp at;
  if (args.at.empty()) {
    // "Now" is the one place the clock is read: the default of a command-line argument.
    at = Timestamp::FromMicros(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count());
  } else {
    FUNNEL_ASSIGN_OR_RETURN(at, ParseTime(args.at));
  }
  std::optional<UserIdx> user = store->FindUser(args.user);
  std::optional<ItemIdx> item;
  if (!args.item.empty()) {
    item = store->FindItem(args.item);
    if (!item) return absl::NotFoundError(Cat("unknown item '", args.item, "'"));
  }
  FUNNEL_ASSIGN_OR_RETURN(auto fold, features::FeatureFold::Create(specs, store.get()));
  FUNNEL_RETURN_IF_ERROR(store->Replay(Timestamp::Min(), at, [&](const store::StoredEvent& e) {
    fold->Apply(e);
    return true;
  }));
  std::cout << "features of user " << args.user << (item ? " and item " + args.item : std::string())
            << " as of " << FormatUtc(at) << "\n";
  if (!user) std::cout << "(user '" << args.user << "' has no events: values are defaults)\n";
  std::vector<float> x(fold->names().size());
  fold->Compute(user.value_or(UserIdx{UINT32_MAX}), item.value_or(ItemIdx{UINT32_MAX}), at, x);
  for (size_t i = 0; i < x.size(); ++i) {
    const features::FeatureSpec& f = *std::find_if(specs.begin(), specs.end(), [&](const auto& s) {
      return s.name == fold->names()[i];
    });
    bool needs_item = f.entity != features::Entity::kUser && f.entity != features::Entity::kGlobal;
    if (f.aggregation == features::Aggregation::kRatio) {
      auto part = std::find_if(specs.begin(), specs.end(), [&](const auto& s) { return s.name == f.numerator; });
      needs_item = part->entity == features::Entity::kItem;
    }
    if (needs_item && !item) continue;
    std::cout << fmt::format("  {:<36} {}\n", fold->names()[i], std::isnan(x[i]) ? std::string("missing") : fmt::format("{:.6g}", x[i]));
  }
  if (user) {
    for (const auto& name : fold->LastNFeatures()) {
      std::cout << fmt::format("  {:<36}", name);
      for (ItemIdx i : fold->LastItems(*user, name)) std::cout << " " << store->ItemName(i);
      std::cout << "\n";
    }
  }
  return absl::OkStatus();
}

Status BuildDatasetCommand(const CommonOptions& common, const FeaturesArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto specs, LoadSpecs(common));
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  features::DatasetOptions opt;
  if (!args.until.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(opt.until, ParseTime(args.until));
  }
  opt.negatives_per_positive = args.negatives;
  opt.seed = args.seed;
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
  sub->add_option("--at", args->at, "Time: Unix seconds or ISO-8601 (default: now)");
  CLI::App* dataset = sub->add_subcommand("dataset", "Write training rows with point-in-time features (docs/formats/dataset.md)");
  AddCommonFlags(dataset, common);
  dataset->add_option("--until", args->until, "Read only events before this time (default: all)");
  dataset->add_option("--out", args->out, "Output file")->required();
  dataset->add_option("--negatives", args->negatives, "Sampled negatives per positive engagement")
      ->capture_default_str()->check(CLI::Range(0, 100));
  dataset->add_option("--seed", args->seed, "Seed for negative sampling")->capture_default_str();
  dataset->callback([&common, args, exit_code] {
    Status s = BuildDatasetCommand(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
  sub->callback([sub, dataset, &common, args, exit_code] {
    if (dataset->parsed()) return;
    if (args->user.empty()) {
      *exit_code = Fail(absl::InvalidArgumentError("features: give --user ID (or use `funnel features dataset`)"));
      return;
    }
    Status s = ShowFeatures(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
