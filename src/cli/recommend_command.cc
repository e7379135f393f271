// funnel recommend (--user ID | --users FILE) [--k K] [--out FILE] [--at T]
// TSV lines user<TAB>item<TAB>rank<TAB>score, rank from 1, from the current model: the contract
// outside tools use to score Funnel's lists (DESIGN.md).
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/store_access.h"
#include "funnel/core/logging.h"
#include "funnel/serving/request_pipeline.h"

namespace funnel::cli {

namespace {

struct RecommendArgs {
  std::string user, users_file, out, at;
  int k = 20;
};

constexpr int kMaxK = 1000;

Status RunRecommend(const CommonOptions& common, const RecommendArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  if (args.user.empty() == args.users_file.empty())
    return absl::InvalidArgumentError("recommend: give exactly one of --user ID or --users FILE");
  std::vector<std::string> users;
  if (!args.user.empty()) {
    users.push_back(args.user);
  } else {
    std::ifstream in(args.users_file);
    if (!in) return absl::NotFoundError(Cat("cannot open ", args.users_file));
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      if (!line.empty()) users.push_back(line);
    }
  }
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  Timestamp at = serving::DefaultRequestTime(*store);
  if (!args.at.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(at, ParseTime(args.at));
  }

  // Co-visitation pairs formed since the model was trained count at once: the state the
  // importers keep current, plus what arrived since (live_covisit.h).
  model::CatchUpReport caught_up;
  FUNNEL_ASSIGN_OR_RETURN(auto loaded, serving::LoadServingModel(common.data_dir, common.sources, *store, cfg.events,
                                                                 at, &caught_up));
  if (caught_up.positives > 0)
    spdlog::info("recommend: {} positive events since the model's cutoff are in its co-visitation ({} new items; {})",
                 caught_up.positives, caught_up.new_items,
                 caught_up.live ? "kept by the writers" : "refolded from the event store");
  serving::ModelHandle models(std::move(loaded));
  serving::RequestPipeline pipeline(*store, models, cfg.events);

  std::ofstream file;
  if (!args.out.empty()) {
    file.open(args.out);
    if (!file) return absl::InvalidArgumentError(Cat("cannot write ", args.out));
  }
  std::ostream& out = args.out.empty() ? std::cout : file;
  size_t cold = 0;
  for (const std::string& user : users) {
    FUNNEL_ASSIGN_OR_RETURN(serving::Recommendation r,
                            pipeline.Recommend({.user = user, .k = static_cast<size_t>(args.k), .at = at}));
    if (!r.known_user) ++cold;  // expected: they get the popularity and freshness sources
    for (const serving::RecommendedItem& it : r.items)
      out << user << '\t' << it.item << '\t' << it.rank << '\t' << fmt::format("{:.6g}", it.score) << '\n';
  }
  out.flush();
  if (!out) return absl::InternalError(Cat("cannot write ", args.out.empty() ? "stdout" : args.out));
  if (cold > 0) std::cerr << "funnel: " << cold << " of " << users.size() << " users have no events before the request time (cold start)\n";
  return absl::OkStatus();
}

}  // namespace

void AddRecommendCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand("recommend", "Recommendations from the current model, as TSV: user, item, rank, score");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<RecommendArgs>();
  sub->add_option("--user", args->user, "One user id");
  sub->add_option("--users", args->users_file, "A file of user ids, one per line");
  sub->add_option("--k", args->k, "Items per user")->capture_default_str()->check(CLI::Range(1, kMaxK));
  sub->add_option("--out", args->out, "Write the TSV here (default: stdout)");
  sub->add_option("--at", args->at, "Request time: Unix seconds or ISO-8601 (default: the data's present, just past the newest stored event)");
  sub->callback([&common, args, exit_code] {
    Status s = RunRecommend(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
