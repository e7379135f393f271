// funnel recommend (--user ID | --users FILE) [--k K] [--out FILE] [--at T]
// TSV lines user<TAB>item<TAB>rank<TAB>score, rank from 1, from the current model: the contract
// outside tools use to score Funnel's lists (DESIGN.md).
#include <chrono>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/store_access.h"
#include "funnel/core/logging.h"
#include "funnel/training/live_covisit.h"
#include "funnel/training/model_registry.h"

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
  FUNNEL_ASSIGN_OR_RETURN(training::ModelRegistry registry, training::ModelRegistry::Open(common.data_dir));
  FUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<const training::RetrievalModel> model, registry.LoadCurrent());
  Timestamp at;
  if (args.at.empty()) {
    // "Now" is the one place the clock is read: the default of a command-line argument.
    at = Timestamp::FromMicros(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count());
  } else {
    FUNNEL_ASSIGN_OR_RETURN(at, ParseTime(args.at));
  }

  // Co-visitation pairs formed since the model was trained count at once: the state the
  // importers keep current, plus what arrived since (live_covisit.h).
  training::CatchUpReport caught_up;
  FUNNEL_ASSIGN_OR_RETURN(model, training::LiveCovisit::ModelAt(common.data_dir, model, *store, cfg.events, at, &caught_up));
  if (caught_up.positives > 0)
    spdlog::info("recommend: {} positive events since the model's cutoff are in its co-visitation ({} new items; {})",
                 caught_up.positives, caught_up.new_items,
                 caught_up.live ? "kept by the writers" : "refolded from the event store");

  std::ofstream file;
  if (!args.out.empty()) {
    file.open(args.out);
    if (!file) return absl::InvalidArgumentError(Cat("cannot write ", args.out));
  }
  std::ostream& out = args.out.empty() ? std::cout : file;
  retrieval::StrengthRule rule(*store, cfg.events, model->manifest().data);
  size_t cold = 0;
  for (const std::string& user : users) {
    retrieval::UserState state;
    if (std::optional<UserIdx> u = store->FindUser(user)) {
      FUNNEL_ASSIGN_OR_RETURN(state, retrieval::BuildUserState(*store, rule, *u, at, model->manifest().data.recent_items));
    } else {
      ++cold;  // unknown users are expected: they get the popularity and freshness sources
    }
    retrieval::CandidateSet c = model->merger().Candidates(state, at);
    std::vector<retrieval::Candidate> top = model->merger().Fuse(c, static_cast<size_t>(args.k));
    for (size_t r = 0; r < top.size(); ++r)
      out << user << '\t' << store->ItemName(ItemIdx{top[r].item}) << '\t' << r + 1 << '\t'
          << fmt::format("{:.6g}", top[r].score) << '\n';
  }
  out.flush();
  if (!out) return absl::InternalError(Cat("cannot write ", args.out.empty() ? "stdout" : args.out));
  if (cold > 0) std::cerr << "funnel: " << cold << " of " << users.size() << " users have no events (cold start)\n";
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
  sub->add_option("--at", args->at, "Request time: Unix seconds or ISO-8601 (default: now)");
  sub->callback([&common, args, exit_code] {
    Status s = RunRecommend(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
