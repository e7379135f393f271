// funnel eval [--folds N] [--json FILE]: the rolling temporal evaluation of DESIGN.md.
#include <algorithm>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "cli/eval_report.h"
#include "funnel/training/evaluation.h"
#include "funnel/training/retrieval_options.h"

namespace funnel::cli {

namespace {

struct EvalArgs {
  int folds = 5;
  std::string json;
};

std::string JsonMetrics(const eval::MetricsSummary& s) {
  auto v = [](const eval::MetricValue& m) { return fmt::format(R"({{"mean":{:.6f},"stderr":{:.6f}}})", m.mean, m.stderr_); };
  return fmt::format(R"({{"pairs":{},"ndcg@10":{},"ndcg@20":{},"recall@20":{},"hitrate@10":{},"recall@100":{},"recall@500":{},"coverage@10":{:.6f}}})",
                     s.users, v(s.ndcg10), v(s.ndcg20), v(s.recall20), v(s.hit10), v(s.recall100), v(s.recall500),
                     s.coverage10);
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

Status RunEval(const CommonOptions& common, const EvalArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  FUNNEL_ASSIGN_OR_RETURN(training::RetrievalTrainOptions topt, training::RetrievalTrainOptionsFromConfig(cfg));
  eval::ProtocolOptions popt;
  popt.folds = args.folds;
  FUNNEL_ASSIGN_OR_RETURN(training::EvaluationReport r, training::RunEvaluation(*store, cfg.events, popt, topt));

  std::cout << fmt::format("rolling temporal evaluation: {} folds, {} (fold, user) pairs, {:.1f} s\n", r.folds.size(),
                           r.metrics.empty() ? 0 : r.metrics.back().Overall().users, r.seconds);
  std::cout << fmt::format("{:>4} {:>20} {:>20} {:>10} {:>10} {:>8} {:>6} {:>8}\n", "fold", "cutoff", "window end",
                           "train", "window", "catalog", "users", "train s");
  for (const auto& f : r.folds)
    std::cout << fmt::format("{:>4} {:>20} {:>20} {:>10} {:>10} {:>8} {:>6} {:>8.1f}\n", f.fold, FormatUtc(f.cutoff),
                             FormatUtc(f.end), f.train_events, f.window_events, f.catalog, f.users, f.train_seconds);
  std::cout << "\nmicro-averaged over every (fold, user) pair (± standard error); `popular` is the floor:\n";
  PrintTable(r, std::cout);
  // Paired with the floor: the per-user differences' standard error is what says "clearly".
  const auto popular = std::find(r.rows.begin(), r.rows.end(), "popular");
  std::vector<std::optional<eval::MetricValue>> vs_popular(r.rows.size());
  if (popular != r.rows.end()) {
    std::cout << "\nNDCG@10 minus popular's, paired over the same (fold, user) pairs (± standard error):\n";
    for (size_t k = 0; k < r.rows.size(); ++k) {
      if (r.rows[k] == "popular" || r.rows[k] == "candidates") continue;
      vs_popular[k] = r.metrics[k].PairedDifference(r.metrics[popular - r.rows.begin()], &eval::UserMetrics::ndcg10);
      if (vs_popular[k])
        std::cout << fmt::format("  {:<10} {:+.4f} ±{:.4f}  ({:.1f} standard errors)\n", r.rows[k], vs_popular[k]->mean,
                                 vs_popular[k]->stderr_,
                                 vs_popular[k]->stderr_ > 0 ? vs_popular[k]->mean / vs_popular[k]->stderr_ : 0.0);
    }
  }
  std::cout << "\nper fold (NDCG@10 of the final list):";
  for (int f : r.metrics.back().folds()) std::cout << fmt::format("  fold {}: {:.4f}", f, r.metrics.back().Fold(f).ndcg10.mean);
  std::cout << "\nchosen on each fold's validation carve-out:\n";
  for (const auto& f : r.folds)
    for (const auto& v : f.validation)
      if (!v.params.empty()) std::cout << fmt::format("  fold {} {:<9} {}\n", f.fold, v.name, v.params);

  if (!args.json.empty()) {
    std::ofstream out(args.json);
    out << "{\"protocol\":\"rolling-origin temporal, DESIGN.md\",\"folds\":[";
    for (size_t i = 0; i < r.folds.size(); ++i) {
      const auto& f = r.folds[i];
      out << (i ? "," : "") << fmt::format(R"({{"fold":{},"cutoff":{:.6f},"end":{:.6f},"train_events":{},"window_events":{},"catalog":{},"users":{},"train_seconds":{:.3f},"rows":{{)",
                                           f.fold, f.cutoff.seconds(), f.end.seconds(), f.train_events, f.window_events,
                                           f.catalog, f.users, f.train_seconds);
      for (size_t k = 0; k < r.rows.size(); ++k)
        out << (k ? "," : "") << JsonString(r.rows[k]) << ":" << JsonMetrics(r.metrics[k].Fold(f.fold));
      out << "},\"validation\":[";
      for (size_t k = 0; k < f.validation.size(); ++k)
        out << (k ? "," : "") << fmt::format(R"({{"name":{},"params":{},"metrics":{}}})", JsonString(f.validation[k].name),
                                             JsonString(f.validation[k].params), JsonMetrics(f.validation[k].metrics));
      out << "]}";
    }
    out << "],\"overall\":{";
    for (size_t k = 0; k < r.rows.size(); ++k)
      out << (k ? "," : "") << JsonString(r.rows[k]) << ":" << JsonMetrics(r.metrics[k].Overall());
    out << "},\"ndcg10_minus_popular\":{";
    bool first = true;
    for (size_t k = 0; k < r.rows.size(); ++k) {
      if (!vs_popular[k]) continue;
      out << (first ? "" : ",") << JsonString(r.rows[k])
          << fmt::format(R"(:{{"mean":{:.6f},"stderr":{:.6f}}})", vs_popular[k]->mean, vs_popular[k]->stderr_);
      first = false;
    }
    out << "}}\n";
    if (!out) return absl::InternalError(Cat("cannot write ", args.json));
    std::cout << "wrote " << args.json << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddEvalCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand(
      "eval", "Rolling temporal evaluation (DESIGN.md): train per fold, score each source, the candidates and the final list");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<EvalArgs>();
  sub->add_option("--folds", args->folds, "Folds (the last N tenths of the events are test windows)")
      ->capture_default_str()->check(CLI::Range(1, 9));
  sub->add_option("--json", args->json, "Also write the figures as JSON to this file");
  sub->callback([&common, args, exit_code] {
    Status s = RunEval(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
