// funnel demo: the main job. Simulates a short-video platform, imports it, shows what landed.
// Later stages extend it (train, evaluate, serve).
#include <cmath>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include <fmt/format.h>

#include "funnel/events/generator.h"
#include "funnel/events/jsonl_importer.h"

namespace funnel::cli {

namespace {

struct DemoArgs {
  events::GeneratorOptions gen;
  bool fresh = true;
};

Status RunDemo(const CommonOptions& common, DemoArgs args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  namespace fs = std::filesystem;
  if (args.fresh && fs::exists(common.data_dir + "/events")) {
    // The demo owns its data directory: start clean so figures are comparable between runs.
    std::error_code ec;
    fs::remove_all(common.data_dir + "/events", ec);
    if (!ec) fs::remove_all(common.data_dir + "/online", ec);
    if (ec) return absl::InternalError(Cat("cannot clear ", common.data_dir, ": ", ec.message()));
  }
  args.gen.out_dir = common.data_dir + "/demo-input";

  std::cout << fmt::format("== 1. simulate a short-video platform ({} users, {} items, {} days, seed {})\n",
                               args.gen.users, args.gen.items, args.gen.days, args.gen.seed);
  FUNNEL_ASSIGN_OR_RETURN(events::GeneratorSummary gen, events::GeneratePlatform(args.gen));
  std::cout << fmt::format("   wrote {} events ({} impressions in {} sessions) to {}\n",
                               WithCommas(gen.events), WithCommas(gen.impressions),
                               WithCommas(gen.sessions), args.gen.out_dir);

  std::cout << "== 2. import into the event store (and the online features, batch by batch)\n";
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, false));
  FUNNEL_ASSIGN_OR_RETURN(auto online, OpenOnlineFeatures(common, cfg, *store));
  std::unique_ptr<events::RecordSink> sink = features::OnlineFeatures::FeedingSink(*store, *online, {.background = true});
  events::ImportOptions opts;
  opts.batch_size = cfg.store.commit_batch;
  opts.progress = true;
  for (auto [file, kind] : {std::pair{"items.jsonl", events::RecordKind::kItem},
                            std::pair{"events.jsonl", events::RecordKind::kEvent}}) {
    FUNNEL_ASSIGN_OR_RETURN(events::ImportReport r,
                            events::ImportJsonLines(args.gen.out_dir + "/" + file, kind, *sink,
                                                    cfg.import, opts));
    double rate = r.seconds > 0 ? (r.accepted + r.duplicates) / r.seconds : 0;
    std::cout << fmt::format("   {:<12} {} accepted, {} rejected in {:.2f} s ({} records/s, durable)\n",
                                 file, WithCommas(r.accepted), WithCommas(r.rejected), r.seconds,
                                 WithCommas(uint64_t(rate)));
    if (r.rejected > 0)
      return absl::InternalError(Cat("generated data was rejected: ", r.first_errors.front()));
  }

  std::cout << "== 3. what the store holds\n";
  store::StoreStats st = store->Stats();
  PrintStats(common.data_dir, st, std::cout);

  // The user with the most history, against the item they engaged with last: what a ranker
  // would see for that pair right after the last event.
  std::cout << fmt::format("== 4. online features ({} backend, {} MiB of state for {} users)\n",
                           online->backend(), online->StateBytes() >> 20, WithCommas(st.users));
  std::string user, item;
  Timestamp last;
  FUNNEL_RETURN_IF_ERROR(store->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    user = store->UserName(e.user);
    item = store->ItemName(e.item);
    last = e.ts;
    return true;
  }));
  std::vector<std::string> items = {item};
  Timestamp at = Timestamp::FromMicros(last.micros() + 1);
  FUNNEL_ASSIGN_OR_RETURN(features::FeatureMatrix x, online->Compute(user, items, at));
  std::cout << fmt::format("   user {} x item {} as of {}:\n", user, item, FormatUtc(at));
  for (size_t i = 0; i < x.cols; ++i) {
    float v = x.values[i];
    std::cout << fmt::format("     {:<34} {}\n", online->names()[i],
                             std::isnan(v) ? std::string("missing") : fmt::format("{:.4g}", v));
  }
  return absl::OkStatus();
}

}  // namespace

void AddDemoCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand("demo", "The main job: simulate a platform, import it, show the store");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<DemoArgs>();
  sub->add_option("--users", args->gen.users, "Simulated users")->capture_default_str();
  sub->add_option("--items", args->gen.items, "Simulated items")->capture_default_str();
  sub->add_option("--days", args->gen.days, "Simulated days")->capture_default_str();
  sub->add_option("--seed", args->gen.seed, "Random seed")->capture_default_str();
  sub->callback([&common, args, exit_code] {
    Status s = RunDemo(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
