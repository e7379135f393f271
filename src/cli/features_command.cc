// funnel features --user ID [--item ID] [--at T]       named feature values as of T
// funnel features dataset --until T --out FILE         point-in-time training rows
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/feature_value.h"
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

// "user x category" rather than the config's user_category: the pair is the entity.
std::string EntityLabel(features::Entity e) {
  switch (e) {
    case features::Entity::kUserCategory: return "user x category";
    case features::Entity::kUserCreator: return "user x creator";
    default: return std::string(features::EntityName(e));
  }
}

std::string AggregationLabel(const features::FeatureSpec& f) {
  switch (f.aggregation) {
    case features::Aggregation::kCount: return "count";
    case features::Aggregation::kSum: return "sum";
    case features::Aggregation::kMean: return "mean";
    case features::Aggregation::kLast: return "last";
    case features::Aggregation::kTimeSince: return "hours since";
    case features::Aggregation::kLastN: return "last " + Count(static_cast<uint64_t>(f.last_n), "item");
    case features::Aggregation::kRatio: return "ratio";
    case features::Aggregation::kStatic: return "static";
  }
  return "?";
}

std::string HorizonLabel(const features::FeatureSpec& f) {
  if (f.half_life_seconds > 0) return "half-life " + ReadableDuration(f.half_life_seconds);
  if (f.window_seconds > 0) return "window " + ReadableDuration(f.window_seconds);
  return "all time";
}

// Event types with their weights; "=w" only when some weight is not 1, so a plain count of
// likes reads "like".
std::string EventsLabel(const features::FeatureSpec& f) {
  bool weighted = std::any_of(f.types.begin(), f.types.end(), [](const auto& tw) { return tw.second != 1.0; });
  std::string out;
  for (const auto& [type, w] : f.types) {
    if (!out.empty()) out += ' ';
    out += weighted ? fmt::format("{}={:g}", type, w) : type;
  }
  return out;
}

Status ListFeatures(const CommonOptions& common) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto specs, LoadFeatureSpecs(cfg));
  std::vector<std::vector<std::string>> rows = {{"FEATURE", "ENTITY", "AGGREGATION", "HORIZON", "EVENTS", "NOTES"}};
  for (const auto& f : specs) {
    std::vector<std::string> row = {f.name, EntityLabel(f.entity), AggregationLabel(f), HorizonLabel(f),
                                    EventsLabel(f), ""};
    std::string& notes = row[5];
    auto note = [&](std::string text) { notes += (notes.empty() ? "" : "; ") + text; };
    switch (f.aggregation) {
      case features::Aggregation::kStatic: {
        row[3] = "now";  // metadata has no history: what is stored now, whatever the time asked
        row[4] = "-";
        std::string what = f.source == "item.category" ? "; the first category, categorical"
                         : f.source == "item.creator"  ? "; categorical"
                         : f.source == "item.age"      ? "; hours from the item's ts to the time asked"
                         : f.source == "item.duration" ? ""
                                                       : "; a string is categorical";
        note(Cat("metadata ", f.source, what));
        break;
      }
      case features::Aggregation::kRatio: {
        const features::FeatureSpec* num = FindSpec(specs, f.numerator);
        const features::FeatureSpec* den = FindSpec(specs, f.denominator);
        if (num && den) {
          row[1] = EntityLabel(num->entity);
          const std::string hn = HorizonLabel(*num), hd = HorizonLabel(*den);
          row[3] = hn == hd ? hn : Cat(hn, " / ", hd);
        }
        row[4] = Cat(f.numerator, " / ", f.denominator);
        if (f.prior_weight > 0) note(fmt::format("smoothed toward {:g} with weight {:g}", f.prior_mean, f.prior_weight));
        note(Cat("missing when ", f.denominator, " is 0"));
        break;
      }
      case features::Aggregation::kLastN: row[3] = "-"; break;
      case features::Aggregation::kLast:
      case features::Aggregation::kTimeSince: row[3] = "latest event"; break;
      default: break;
    }
    if (f.aggregation != features::Aggregation::kStatic && f.aggregation != features::Aggregation::kRatio) {
      if (f.value == features::ValueMode::kValue) note("adds the event's value");
      if (f.value == features::ValueMode::kWatchRatio) note("adds value / item duration, at most 5");
      if (f.entity == features::Entity::kUserCategory) {
        constexpr std::string_view kCombine[] = {"max", "min", "sum", "mean"};
        note(Cat(kCombine[static_cast<size_t>(f.combine)], " over the item's categories"));
      }
    }
    rows.push_back(std::move(row));
  }
  std::cout << AlignedTable(rows, "");
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
  std::optional<ItemIdx> item_idx = args.item.empty() ? std::nullopt : store->FindItem(args.item);
  if (!args.item.empty() && !item_idx) return absl::NotFoundError(Cat("unknown item '", args.item, "'"));
  const std::optional<UserIdx> user_idx = store->FindUser(args.user);
  std::optional<events::Item> item_meta;
  std::optional<events::User> user_meta;
  if (item_idx) {
    FUNNEL_ASSIGN_OR_RETURN(item_meta, store->GetItem(*item_idx));
  }
  if (user_idx) {
    FUNNEL_ASSIGN_OR_RETURN(user_meta, store->GetUser(*user_idx));
  }
  // The online store answers, as a server would: what the events before `at` make of the user
  // (a time it has folded past is replayed from the event store, point-in-time).
  FUNNEL_ASSIGN_OR_RETURN(auto online, OpenOnlineFeatures(common, cfg, *store));
  std::vector<std::string> items = {args.item};
  FUNNEL_ASSIGN_OR_RETURN(features::FeatureMatrix x, online->Compute(args.user, items, at));
  std::cout << "features of user " << args.user << (args.item.empty() ? std::string() : " and item " + args.item)
            << " as of " << FormatUtc(at) << " (online store: " << online->backend() << ")\n";
  if (!user_idx) std::cout << "(user '" << args.user << "' has no events: values are defaults)\n";
  const std::vector<std::string>& names = online->names();
  bool showed_static = false;
  for (size_t i = 0; i < x.cols; ++i) {
    const features::FeatureSpec* f = FindSpec(specs, names[i]);
    FUNNEL_CHECK(f != nullptr);  // the online store computes exactly these specs
    if (args.item.empty() && NeedsItem(specs, *f)) continue;
    const float v = x.values[i];
    std::string shown = FeatureValueText(*f, v, item_meta ? &*item_meta : nullptr, user_meta ? &*user_meta : nullptr);
    if (f->aggregation == features::Aggregation::kRatio && std::isnan(v)) {
      // Say why, so a missing rate is not mistaken for a defect.
      auto den = std::find(names.begin(), names.end(), f->denominator);
      if (den != names.end() && x.values[den - names.begin()] == 0) shown += Cat(" (", f->denominator, " is 0)");
    }
    showed_static |= f->aggregation == features::Aggregation::kStatic;
    std::cout << fmt::format("  {:<36} {}\n", names[i], shown);
  }
  if (showed_static && !args.at.empty())
    std::cout << "(static features show the metadata stored now: metadata has no history before --at)\n";
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
  // With --out -, stdout carries the rows alone; the summary moves to stderr.
  (args.out == "-" ? std::cerr : std::cout) << fmt::format("{}: {} ({}, {}, {}) x {} from {} in {:.2f} s\n", args.out == "-" ? "<stdout>" : args.out, Count(s.rows, "row"),
                           Count(s.impression_rows, "impression"), Count(s.engagement_rows, "engagement"),
                           Count(s.negative_rows, "negative"), Count(s.features, "feature"),
                           Count(s.events, "event"), s.seconds);
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
  dataset->add_option("--out", args->out, "Output file, or - for stdout (the summary then goes to stderr)")->required();
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
