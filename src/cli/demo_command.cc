// funnel demo: the main job. Simulates a short-video platform, imports it into the event store
// and the online features, trains and registers a model, evaluates it with the rolling temporal
// protocol, and shows a few users' recommendations next to what they watched.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/eval_report.h"
#include "cli/feature_value.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "funnel/events/generator.h"
#include "funnel/events/jsonl_importer.h"
#include "funnel/training/evaluation.h"
#include "funnel/model/model_registry.h"
#include "funnel/serving/ingest_pipeline.h"
#include "funnel/serving/request_pipeline.h"
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

Status ShowRecommendations(const store::EventStore& store, serving::RequestPipeline& pipeline, Timestamp now) {
  // Three of the most active users: their latest events, then what the model serves them.
  std::vector<std::pair<uint64_t, UserIdx>> activity;
  std::vector<uint64_t> count(store.NumUsers(), 0);
  FUNNEL_RETURN_IF_ERROR(store.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    ++count[Raw(e.user)];
    return true;
  }));
  for (uint32_t u = 0; u < count.size(); ++u) activity.push_back({count[u], UserIdx{u}});
  std::partial_sort(activity.begin(), activity.begin() + std::min<size_t>(3, activity.size()), activity.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; k < std::min<size_t>(3, activity.size()); ++k) {
    const UserIdx user = activity[k].second;
    std::vector<std::string> latest;  // newest last
    FUNNEL_RETURN_IF_ERROR(store.UserHistory(user, Timestamp::Min(), now, [&](const store::HistoryEntry& h) {
      if (store.TypeName(h.type) == "impression") return true;
      latest.push_back(Cat(ItemLabel(store, Raw(h.item)), " ", store.TypeName(h.type)));
      return true;
    }));
    std::cout << fmt::format("   user {} ({}). Latest engagements:\n", store.UserName(user), Count(activity[k].first, "event"));
    for (size_t r = 0; r < std::min<size_t>(5, latest.size()); ++r) std::cout << "      " << latest[latest.size() - 1 - r] << "\n";
    FUNNEL_ASSIGN_OR_RETURN(serving::Recommendation rec,
                            pipeline.Recommend({.user = store.UserName(user), .k = 8, .at = now, .explain = true}));
    std::cout << fmt::format("     recommended (from {}; found by):\n", Count(rec.candidates, "candidate"));
    for (const serving::RecommendedItem& it : rec.items) {
      std::string found;
      for (const serving::SourceScore& s : it.sources)
        if (s.retrieved) found += (found.empty() ? "" : ",") + s.source;
      const std::optional<ItemIdx> idx = store.FindItem(it.item);
      std::cout << fmt::format("      {:>2}. {:<28} {}\n", it.rank, idx ? ItemLabel(store, Raw(*idx)) : it.item, found);
    }
  }
  return absl::OkStatus();
}

// The demo clears its data directory to start clean, so it must never clear someone's own data:
// it leaves this marker with what the store held when the demo made it, and clears a store
// only when the marker is there and the store holds exactly that still.
constexpr const char* kDemoMarker = "/.funnel-demo";

std::string DemoFingerprint(const store::StoreStats& st) {
  return fmt::format("events {} users {} items {} with metadata {}\n", st.events, st.users, st.items,
                     st.items_with_metadata);
}

Status CheckDemoOwnsDataDir(const CommonOptions& common, const Config& cfg) {
  namespace fs = std::filesystem;
  if (!fs::exists(common.data_dir + "/events")) return absl::OkStatus();
  const std::string refuse = Cat(common.data_dir, " holds an event store that funnel demo did not make or that has "
                                 "changed since (your own data?); the demo clears its data directory, so give it "
                                 "another one with --data DIR");
  std::ifstream in(common.data_dir + kDemoMarker);
  std::string marker((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (marker.empty()) return absl::FailedPreconditionError(refuse);
  StatusOr<std::unique_ptr<store::EventStore>> store = OpenEventStore(common, cfg, /*read_only=*/true);
  if (!store.ok()) return absl::FailedPreconditionError(Cat(refuse, " (", MessageOf(store.status()), ")"));
  if (DemoFingerprint((*store)->Stats()) != marker) return absl::FailedPreconditionError(refuse);
  return absl::OkStatus();
}

Status RunDemo(const CommonOptions& common, DemoArgs args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  FUNNEL_ASSIGN_OR_RETURN(training::RetrievalTrainOptions topt, training::RetrievalTrainOptionsFromConfig(cfg));
  FUNNEL_RETURN_IF_ERROR(CheckDemoOwnsDataDir(common, cfg));
  namespace fs = std::filesystem;
  for (const char* sub : {"/events", "/online", "/models", "/covisit_live"}) {
    // The demo owns its data directory: start clean so figures are comparable between runs.
    std::error_code ec;
    fs::remove_all(common.data_dir + sub, ec);
    if (ec) return absl::InternalError(Cat("cannot clear ", common.data_dir, sub, ": ", ec.message()));
  }
  args.gen.out_dir = common.data_dir + "/demo-input";

  std::cout << fmt::format("== 1. simulate a short-video platform ({}, {}, {}, seed {})\n", Count(args.gen.users, "user"),
                           Count(args.gen.items, "item"), Count(args.gen.days, "day"), args.gen.seed);
  FUNNEL_ASSIGN_OR_RETURN(events::GeneratorSummary gen, events::GeneratePlatform(args.gen));
  std::cout << fmt::format("   wrote {} ({} in {}) to {}\n", Count(gen.events, "event"),
                           Count(gen.impressions, "impression"), Count(gen.sessions, "session"), args.gen.out_dir);

  std::cout << "== 2. import into the event store (and the online features, batch by batch)\n";
  FUNNEL_ASSIGN_OR_RETURN(auto ingest, serving::IngestPipeline::Open(common.data_dir, common.sources, cfg,
                                                                     {.feeding = serving::kFileFeeding}));
  events::ImportOptions opts;
  opts.batch_size = cfg.store.commit_batch;
  opts.progress = true;
  for (auto [file, kind] : {std::pair{"items.jsonl", events::RecordKind::kItem},
                            std::pair{"events.jsonl", events::RecordKind::kEvent}}) {
    FUNNEL_ASSIGN_OR_RETURN(events::ImportReport r, events::ImportJsonLines(args.gen.out_dir + "/" + file, kind,
                                                                            ingest->sink(), cfg.import, opts));
    double rate = r.seconds > 0 ? (r.accepted + r.duplicates) / r.seconds : 0;
    std::cout << fmt::format("   {:<12} {} accepted, {} rejected in {:.2f} s ({} records/s, durable)\n", file,
                             WithCommas(r.accepted), WithCommas(r.rejected), r.seconds, WithCommas(uint64_t(rate)));
    if (r.rejected > 0) return absl::InternalError(Cat("generated data was rejected: ", r.first_errors.front()));
  }
  FUNNEL_RETURN_IF_ERROR(ingest->Close());
  store::EventStore* store = &ingest->store();
  features::OnlineFeatures* online = ingest->online();
  if (online == nullptr) return absl::FailedPreconditionError("the demo needs [online] update_on_ingest = true");

  std::cout << "== 3. what the store holds\n";
  store::StoreStats st = store->Stats();
  {
    std::ofstream marker(common.data_dir + kDemoMarker, std::ios::trunc);
    marker << DemoFingerprint(st);
    if (!marker) return absl::InternalError(Cat("cannot write ", common.data_dir, kDemoMarker));
  }
  PrintStats(common.data_dir, st, std::cout);

  // The user with the most recent event, against that item: what a ranker would see for the
  // pair right after the last event.
  std::cout << fmt::format("== 4. online features ({} backend, {} MiB of state for {})\n", online->backend(),
                           online->StateBytes() >> 20, Count(st.users, "user"));
  std::string user, item;
  FUNNEL_RETURN_IF_ERROR(store->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    user = store->UserName(e.user);
    item = store->ItemName(e.item);
    return true;
  }));
  const Timestamp now = serving::DefaultRequestTime(*store);
  std::vector<std::string> items = {item};
  FUNNEL_ASSIGN_OR_RETURN(features::FeatureMatrix x, online->Compute(user, items, now));
  std::cout << fmt::format("   user {} x item {} as of {}:\n", user, item, FormatUtc(now));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<features::FeatureSpec> specs, LoadFeatureSpecs(cfg));
  FUNNEL_ASSIGN_OR_RETURN(std::optional<events::Item> item_meta, store->GetItem(*store->FindItem(item)));
  FUNNEL_ASSIGN_OR_RETURN(std::optional<events::User> user_meta, store->GetUser(*store->FindUser(user)));
  for (size_t i = 0; i < x.cols; ++i) {
    float v = x.values[i];
    if (std::isnan(v)) continue;  // ratings-only features are missing on a short-video platform
    const features::FeatureSpec* f = FindSpec(specs, online->names()[i]);
    std::cout << fmt::format("     {:<34} {}\n", online->names()[i],
                             f == nullptr ? fmt::format("{:.4g}", v)
                                              : FeatureValueText(*f, v, item_meta ? &*item_meta : nullptr,
                                                                 user_meta ? &*user_meta : nullptr));
  }

  topt.store_features = specs;  // the ranker reads the feature store's values too
  std::cout << "== 5. train every retrieval source; tune on validation carve-outs; register the model\n";
  FUNNEL_ASSIGN_OR_RETURN(training::TrainedRetrieval trained,
                          training::TrainRetrieval(*store, cfg.events, Timestamp::Max(), topt));
  FUNNEL_ASSIGN_OR_RETURN(model::ModelRegistry registry, model::ModelRegistry::Open(common.data_dir, common.sources));
  FUNNEL_ASSIGN_OR_RETURN(std::string version, registry.Register(trained, *store));
  std::cout << fmt::format("   model {} ({:.1f} s, {}). Validation:\n", version, trained.seconds,
                           Count(trained.validation_users, "validation user"));
  for (const auto& v : trained.validation)
    std::cout << fmt::format("     {:<9} NDCG@10 {:.4f}  Recall@20 {:.4f}  {}\n", v.name, v.metrics.ndcg10.mean,
                             v.metrics.recall20.mean, v.params);
  if (!trained.ranking_verdict.empty()) std::cout << "   ranking: " << trained.ranking_verdict << "\n";

  if (args.evaluate) {
    // The protocol trains once per fold; a lighter tuning keeps the demo to a few minutes
    // (`funnel eval` uses the full one).
    training::RetrievalTrainOptions quick = topt;
    quick.validation_windows = 2;  // the fewest the ranker learns from (each judged by one learned on the other)
    quick.max_validation_users = 1500;
    quick.ials_alphas = {8};
    quick.ials_regularizations = {32, 128};
    quick.ease_lambdas = {400};
    // The ranker per fold is the slow part: at most 100 trees.
    quick.ranking.trees = 100;
    std::cout << "== 6. rolling temporal evaluation (docs/protocol.md, 5 folds; quick tuning per fold)\n";
    FUNNEL_ASSIGN_OR_RETURN(training::EvaluationReport r, training::RunEvaluation(*store, cfg.events, {}, quick));
    std::cout << fmt::format("   {} in {:.1f} s\n", Count(r.metrics.back().Overall().users, "(fold, user) pair"), r.seconds);
    PrintTable(r, std::cout);
  }

  std::cout << "== 7. recommendations from the current model\n";
  FUNNEL_ASSIGN_OR_RETURN(auto served, serving::LoadServingModel(common.data_dir, common.sources, *store, cfg.events, now));
  serving::ModelHandle models(std::move(served));
  serving::RequestPipeline pipeline(*store, models, cfg.events, topt.rerank, specs);
  FUNNEL_RETURN_IF_ERROR(ShowRecommendations(*store, pipeline, now));
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
