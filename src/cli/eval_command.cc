// funnel eval [--folds N] [--json FILE|-]: the rolling temporal evaluation of docs/protocol.md.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "cli/eval_report.h"
#include "funnel/core/json_writer.h"
#include "funnel/eval/metrics_json.h"
#include "funnel/training/evaluation.h"
#include "funnel/training/retrieval_options.h"

namespace funnel::cli {

namespace {

struct EvalArgs {
  int folds = 5;
  std::string json;
};

// The --json file (docs/formats/json.md).
std::string EvalJson(const training::EvaluationReport& r,
                     const std::vector<std::optional<eval::MetricValue>>& vs_popular,
                     const std::vector<std::pair<std::string, eval::MetricValue>>& vs_fusion) {
  JsonWriter w;
  w.StartObject().Key("protocol").String("rolling-origin temporal, docs/protocol.md").Key("folds").StartArray();
  for (const auto& f : r.folds) {
    w.StartObject().Key("fold").Int(f.fold).Key("cutoff").Double(f.cutoff.seconds());
    w.Key("end").Double(f.end.seconds()).Key("train_events").Uint(f.train_events);
    w.Key("window_events").Uint(f.window_events).Key("catalog").Uint(f.catalog).Key("users").Uint(f.users);
    w.Key("train_seconds").Double(f.train_seconds).Key("ranking").String(f.ranking_verdict);
    w.Key("rows").StartObject();
    for (size_t k = 0; k < r.rows.size(); ++k) {
      w.Key(r.rows[k]);
      eval::WriteMetricsJson(w, r.metrics[k].Fold(f.fold));
    }
    w.EndObject().Key("validation").StartArray();
    for (const auto& v : f.validation) {
      w.StartObject().Key("name").String(v.name).Key("params").String(v.params).Key("metrics");
      eval::WriteMetricsJson(w, v.metrics);
      w.EndObject();
    }
    w.EndArray().EndObject();
  }
  w.EndArray().Key("overall").StartObject();
  for (size_t k = 0; k < r.rows.size(); ++k) {
    w.Key(r.rows[k]);
    eval::WriteMetricsJson(w, r.metrics[k].Overall());
  }
  w.EndObject().Key("ndcg10_minus_popular").StartObject();
  for (size_t k = 0; k < r.rows.size(); ++k) {
    if (!vs_popular[k]) continue;
    w.Key(r.rows[k]);
    eval::WriteMetricValueJson(w, *vs_popular[k]);
  }
  w.EndObject().Key("ndcg10_minus_fusion").StartObject();
  for (const auto& [row, d] : vs_fusion) {
    w.Key(row);
    eval::WriteMetricValueJson(w, d);
  }
  w.EndObject().Key("diversity10").StartObject();
  for (size_t k = 0; k < r.rows.size(); ++k) {
    if (r.rows[k] == "candidates" || r.diversity[k].lists == 0) continue;
    const training::ListDiversity& d = r.diversity[k];
    w.Key(r.rows[k]).StartObject().Key("ild").Double(d.Mean(&training::ListDiversity::ild10));
    w.Key("categories").Double(d.Mean(&training::ListDiversity::categories10));
    w.Key("creators").Double(d.Mean(&training::ListDiversity::creators10)).EndObject();
  }
  w.EndObject().EndObject();
  w.EndLine();
  return std::string(w.text());
}

Status RunEval(const CommonOptions& common, const EvalArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  FUNNEL_ASSIGN_OR_RETURN(training::RetrievalTrainOptions topt, training::RetrievalTrainOptionsFromConfig(cfg));
  FUNNEL_ASSIGN_OR_RETURN(topt.store_features, LoadFeatureSpecs(cfg));
  eval::ProtocolOptions popt;
  popt.folds = args.folds;
  FUNNEL_ASSIGN_OR_RETURN(training::EvaluationReport r, training::RunEvaluation(*store, cfg.events, popt, topt));

  // With --json -, stdout carries the JSON alone, so a script can pipe it; the table moves to stderr.
  std::ostream& table = args.json == "-" ? std::cerr : std::cout;
  table << fmt::format("rolling temporal evaluation: {}, {}, {:.1f} s\n", Count(r.folds.size(), "fold"),
                       Count(r.metrics.empty() ? 0 : r.metrics.back().Overall().users, "(fold, user) pair"), r.seconds);
  table << fmt::format("{:>4} {:>20} {:>20} {:>10} {:>10} {:>8} {:>6} {:>8}\n", "fold", "cutoff", "window end",
                           "train", "window", "catalog", "users", "train s");
  for (const auto& f : r.folds)
    table << fmt::format("{:>4} {:>20} {:>20} {:>10} {:>10} {:>8} {:>6} {:>8.1f}\n", f.fold, FormatUtc(f.cutoff),
                             FormatUtc(f.end), f.train_events, f.window_events, f.catalog, f.users, f.train_seconds);
  table << "\nmicro-averaged over every (fold, user) pair (± standard error); `popular` is the floor:\n";
  PrintTable(r, table);
  // Paired with the floor: the per-user differences' standard error is what says "clearly".
  const auto popular = std::find(r.rows.begin(), r.rows.end(), "popular");
  std::vector<std::optional<eval::MetricValue>> vs_popular(r.rows.size());
  if (popular != r.rows.end()) {
    table << "\nNDCG@10 minus popular's, paired over the same (fold, user) pairs (± standard error):\n";
    for (size_t k = 0; k < r.rows.size(); ++k) {
      if (r.rows[k] == "popular" || r.rows[k] == "candidates") continue;
      vs_popular[k] = r.metrics[k].PairedDifference(r.metrics[popular - r.rows.begin()], &eval::UserMetrics::ndcg10);
      if (vs_popular[k])
        table << fmt::format("  {:<10} {:+.4f} ±{:.4f}  ({:.1f} standard errors)\n", r.rows[k], vs_popular[k]->mean,
                                 vs_popular[k]->stderr_,
                                 vs_popular[k]->stderr_ > 0 ? vs_popular[k]->mean / vs_popular[k]->stderr_ : 0.0);
    }
  }
  // The ranking and re-ranking stages against retrieval alone, paired: what each earns or costs
  // (0 where the fusion won validation and serves).
  std::vector<std::pair<std::string, eval::MetricValue>> vs_fusion;
  const auto fusion = std::find(r.rows.begin(), r.rows.end(), "fusion");
  if (fusion != r.rows.end()) {
    table << "\nNDCG@10 minus the fusion's (retrieval alone), paired (± standard error):\n";
    for (const char* row : {"ranked", "final"}) {
      const auto it = std::find(r.rows.begin(), r.rows.end(), row);
      if (it == r.rows.end()) continue;
      std::optional<eval::MetricValue> d =
          r.metrics[it - r.rows.begin()].PairedDifference(r.metrics[fusion - r.rows.begin()], &eval::UserMetrics::ndcg10);
      if (!d) continue;
      vs_fusion.emplace_back(row, *d);
      table << fmt::format("  {:<10} {:+.4f} ±{:.4f}  ({:.1f} standard errors)\n", row, d->mean, d->stderr_,
                           d->stderr_ > 0 ? d->mean / d->stderr_ : 0.0);
    }
    table << "\ndiversity of the top 10 (means over the lists): ILD@10 (1 - share of pairs with the same first "
             "category or creator), distinct categories, distinct creators:\n";
    for (const char* row : {"fusion", "ranked", "final"}) {
      const auto it = std::find(r.rows.begin(), r.rows.end(), row);
      if (it == r.rows.end()) continue;
      const training::ListDiversity& d = r.diversity[it - r.rows.begin()];
      table << fmt::format("  {:<10} {:.4f}  {:5.2f}  {:5.2f}\n", row, d.Mean(&training::ListDiversity::ild10),
                           d.Mean(&training::ListDiversity::categories10), d.Mean(&training::ListDiversity::creators10));
    }
  }
  table << "\nper fold (NDCG@10 of the final list):";
  for (int f : r.metrics.back().folds()) table << fmt::format("  fold {}: {:.4f}", f, r.metrics.back().Fold(f).ndcg10.mean);
  table << "\nchosen on each fold's validation carve-out:\n";
  for (const auto& f : r.folds)
    for (const auto& v : f.validation)
      if (!v.params.empty()) table << fmt::format("  fold {} {:<9} {}\n", f.fold, v.name, v.params);
  for (const auto& f : r.folds)
    if (!f.ranking_verdict.empty()) table << fmt::format("  fold {} ranking: {}\n", f.fold, f.ranking_verdict);

  if (args.json == "-") {
    std::cout << EvalJson(r, vs_popular, vs_fusion) << std::flush;
    if (!std::cout) return absl::InternalError("cannot write the JSON to stdout");
  } else if (!args.json.empty()) {
    std::ofstream out(args.json);
    out << EvalJson(r, vs_popular, vs_fusion);
    if (!out) return absl::InternalError(Cat("cannot write ", args.json));
    table << "wrote " << args.json << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddEvalCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand(
      "eval", "Rolling temporal evaluation (docs/protocol.md): train per fold, score each source, the candidates and the final list");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<EvalArgs>();
  sub->add_option("--folds", args->folds, "Folds (the last N tenths of the events are test windows)")
      ->capture_default_str()->check(CLI::Range(1, 9));
  sub->add_option("--json", args->json,
                  "Also write the figures as JSON to this file; - writes only the JSON to stdout (the table goes to stderr)");
  sub->callback([&common, args, exit_code] {
    Status s = RunEval(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
