// funnel demo: the main job. Simulates a short-video platform, imports it into the event store
// and the online features, trains and registers a model, evaluates it with the rolling temporal
// protocol, and shows a few users' recommendations next to what they watched.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/eval_report.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "funnel/events/generator.h"
#include "funnel/events/jsonl_importer.h"
#include "funnel/training/evaluation.h"
#include "funnel/training/model_registry.h"
#include "funnel/training/retrieval_options.h"

namespace funnel::cli {

namespace {

// Smaller than `funnel generate`'s default platform, so the whole demo, five-fold evaluation
// included, takes a few minutes on two cores.
struct DemoArgs {
  DemoArgs() {
    gen.users = 3000;
    gen.items = 4000;
    gen.days = 21;
  }
  events::GeneratorOptions gen;
  bool evaluate = true;
};

std::string ItemLabel(const store::EventStore& store, uint32_t item) {
  std::string label = store.ItemName(ItemIdx{item});
  StatusOr<std::optional<events::Item>> meta = store.GetItem(ItemIdx{item});
  if (meta.ok() && *meta && !(*meta)->categories.empty()) label += Cat(" (", (*meta)->categories.front(), ")");
  return label;
}

Status ShowRecommendations(const store::EventStore& store, const Config& cfg, const training::RetrievalModel& model,
                           Timestamp now) {
  // Three of the most active users: their latest engagements, then what the model serves them.
  std::vector<std::pair<uint64_t, UserIdx>> activity;
  std::vector<uint64_t> count(store.NumUsers(), 0);
  FUNNEL_RETURN_IF_ERROR(store.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    ++count[Raw(e.user)];
    return true;
  }));
  for (uint32_t u = 0; u < count.size(); ++u) activity.push_back({count[u], UserIdx{u}});
  std::partial_sort(activity.begin(), activity.begin() + std::min<size_t>(3, activity.size()), activity.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  retrieval::StrengthRule rule(store, cfg.events, model.manifest().data);
  const std::vector<std::string> sources = model.merger().SourceNames();
  for (size_t k = 0; k < std::min<size_t>(3, activity.size()); ++k) {
    const UserIdx user = activity[k].second;
    FUNNEL_ASSIGN_OR_RETURN(retrieval::UserState state,
                            retrieval::BuildUserState(store, rule, user, now, model.manifest().data.recent_items));
    std::cout << fmt::format("   user {} ({} events). Latest engagements:\n", store.UserName(user), activity[k].first);
    for (size_t r = 0; r < std::min<size_t>(5, state.recent.size()); ++r)
      std::cout << "      " << ItemLabel(store, state.recent[r]) << "\n";
    retrieval::CandidateSet c = model.merger().Candidates(state, now);
    std::vector<retrieval::Candidate> top = model.merger().Fuse(c, 8);
    std::cout << fmt::format("     recommended (from {} candidates; found by):\n", c.items.size());
    for (size_t r = 0; r < top.size(); ++r) {
      size_t j = std::find(c.items.begin(), c.items.end(), top[r].item) - c.items.begin();
      std::string found;
      for (size_t s = 0; s < sources.size(); ++s)
        if (j < c.found_by.size() && (c.found_by[j] >> s & 1)) found += (found.empty() ? "" : ",") + sources[s];
      std::cout << fmt::format("      {:>2}. {:<28} {}\n", r + 1, ItemLabel(store, top[r].item), found);
    }
  }
  return absl::OkStatus();
}

Status RunDemo(const CommonOptions& common, DemoArgs args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(training::RetrievalTrainOptions topt, training::RetrievalTrainOptionsFromConfig(cfg));
  namespace fs = std::filesystem;
  for (const char* sub : {"/events", "/online", "/models"}) {
    // The demo owns its data directory: start clean so figures are comparable between runs.
    std::error_code ec;
    fs::remove_all(common.data_dir + sub, ec);
    if (ec) return absl::InternalError(Cat("cannot clear ", common.data_dir, sub, ": ", ec.message()));
  }
  args.gen.out_dir = common.data_dir + "/demo-input";

  std::cout << fmt::format("== 1. simulate a short-video platform ({} users, {} items, {} days, seed {})\n",
                           args.gen.users, args.gen.items, args.gen.days, args.gen.seed);
  FUNNEL_ASSIGN_OR_RETURN(events::GeneratorSummary gen, events::GeneratePlatform(args.gen));
  std::cout << fmt::format("   wrote {} events ({} impressions in {} sessions) to {}\n", WithCommas(gen.events),
                           WithCommas(gen.impressions), WithCommas(gen.sessions), args.gen.out_dir);

  std::cout << "== 2. import into the event store (and the online features, batch by batch)\n";
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, false));
  FUNNEL_ASSIGN_OR_RETURN(auto online, OpenOnlineFeatures(common, cfg, *store));
  std::unique_ptr<events::RecordSink> sink = features::OnlineFeatures::FeedingSink(*store, *online, kImportFeeding);
  events::ImportOptions opts;
  opts.batch_size = cfg.store.commit_batch;
  opts.progress = true;
  for (auto [file, kind] : {std::pair{"items.jsonl", events::RecordKind::kItem},
                            std::pair{"events.jsonl", events::RecordKind::kEvent}}) {
    FUNNEL_ASSIGN_OR_RETURN(events::ImportReport r,
                            events::ImportJsonLines(args.gen.out_dir + "/" + file, kind, *sink, cfg.import, opts));
    double rate = r.seconds > 0 ? (r.accepted + r.duplicates) / r.seconds : 0;
    std::cout << fmt::format("   {:<12} {} accepted, {} rejected in {:.2f} s ({} records/s, durable)\n", file,
                             WithCommas(r.accepted), WithCommas(r.rejected), r.seconds, WithCommas(uint64_t(rate)));
    if (r.rejected > 0) return absl::InternalError(Cat("generated data was rejected: ", r.first_errors.front()));
  }

  std::cout << "== 3. what the store holds\n";
  store::StoreStats st = store->Stats();
  PrintStats(common.data_dir, st, std::cout);

  // The user with the most recent event, against that item: what a ranker would see for the
  // pair right after the last event.
  std::cout << fmt::format("== 4. online features ({} backend, {} MiB of state for {} users)\n", online->backend(),
                           online->StateBytes() >> 20, WithCommas(st.users));
  std::string user, item;
  Timestamp last;
  FUNNEL_RETURN_IF_ERROR(store->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    user = store->UserName(e.user);
    item = store->ItemName(e.item);
    last = e.ts;
    return true;
  }));
  const Timestamp now = Timestamp::FromMicros(last.micros() + 1);
  std::vector<std::string> items = {item};
  FUNNEL_ASSIGN_OR_RETURN(features::FeatureMatrix x, online->Compute(user, items, now));
  std::cout << fmt::format("   user {} x item {} as of {}:\n", user, item, FormatUtc(now));
  for (size_t i = 0; i < x.cols; ++i) {
    float v = x.values[i];
    if (std::isnan(v)) continue;  // ratings-only features are missing on a short-video platform
    std::cout << fmt::format("     {:<34} {:.4g}\n", online->names()[i], v);
  }

  std::cout << "== 5. train every retrieval source; tune on validation carve-outs; register the model\n";
  FUNNEL_ASSIGN_OR_RETURN(training::TrainedRetrieval trained,
                          training::TrainRetrieval(*store, cfg.events, Timestamp::Max(), topt));
  FUNNEL_ASSIGN_OR_RETURN(training::ModelRegistry registry, training::ModelRegistry::Open(common.data_dir));
  FUNNEL_ASSIGN_OR_RETURN(std::string version, registry.Register(trained, *store));
  std::cout << fmt::format("   model {} ({:.1f} s, {} validation users). Validation:\n", version, trained.seconds,
                           trained.validation_users);
  for (const auto& v : trained.validation)
    std::cout << fmt::format("     {:<9} NDCG@10 {:.4f}  Recall@20 {:.4f}  {}\n", v.name, v.metrics.ndcg10.mean,
                             v.metrics.recall20.mean, v.params);

  if (args.evaluate) {
    // The protocol trains once per fold; a lighter tuning keeps the demo to a few minutes
    // (`funnel eval` uses the full one).
    training::RetrievalTrainOptions quick = topt;
    quick.validation_windows = 1;
    quick.max_validation_users = 1500;
    quick.ials_alphas = {8};
    quick.ials_regularizations = {32, 128};
    quick.ease_lambdas = {400};
    std::cout << "== 6. rolling temporal evaluation (DESIGN.md protocol, 5 folds; quick tuning per fold)\n";
    FUNNEL_ASSIGN_OR_RETURN(training::EvaluationReport r, training::RunEvaluation(*store, cfg.events, {}, quick));
    std::cout << fmt::format("   {} (fold, user) pairs in {:.1f} s\n", r.metrics.back().Overall().users, r.seconds);
    PrintTable(r, std::cout);
  }

  std::cout << "== 7. recommendations from the current model\n";
  FUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<const training::RetrievalModel> model, registry.LoadCurrent());
  FUNNEL_RETURN_IF_ERROR(ShowRecommendations(*store, cfg, *model, now));
  std::cout << fmt::format("\nnext: funnel recommend --data {} --user {} ; funnel eval --data {}\n", common.data_dir,
                           user, common.data_dir);
  return absl::OkStatus();
}

}  // namespace

void AddDemoCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand(
      "demo", "The main job: simulate a platform, import it, train, evaluate, show recommendations");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<DemoArgs>();
  sub->add_option("--users", args->gen.users, "Simulated users")->capture_default_str();
  sub->add_option("--items", args->gen.items, "Simulated items")->capture_default_str();
  sub->add_option("--days", args->gen.days, "Simulated days")->capture_default_str();
  sub->add_option("--seed", args->gen.seed, "Random seed")->capture_default_str();
  sub->add_flag("!--no-eval", args->evaluate, "Skip the rolling evaluation (the slowest step)");
  sub->callback([&common, args, exit_code] {
    Status s = RunDemo(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
