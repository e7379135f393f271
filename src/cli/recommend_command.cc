// funnel recommend (--user ID | --users FILE|-) [--k K] [--out FILE|-] [--at T] [--header]
// TSV lines user<TAB>item<TAB>rank<TAB>score, rank from 1, from the current model: the contract
// outside tools use to score Funnel's lists (docs/cli.md). What a list cannot show (a short
// list, a cold user, a model newer than the request time) is said on stderr, so the TSV stays
// clean for tools.
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "absl/strings/ascii.h"

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "funnel/core/logging.h"
#include "funnel/serving/request_pipeline.h"
#include "funnel/training/retrieval_options.h"

namespace funnel::cli {

namespace {

struct RecommendArgs {
  std::string user, users_file, out, at;
  int k = 20;
  bool header = false;
};

constexpr int kMaxK = 1000;
constexpr size_t kNamedUsers = 5;  // how many ids a stderr report names before "..."

StatusOr<std::vector<std::string>> ReadUsers(const std::string& path) {
  std::ifstream file;
  if (path != "-") {
    file.open(path);
    if (!file) return absl::NotFoundError(Cat("cannot open ", path));
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::vector<std::string> users;
  for (std::string line; std::getline(in, line);)
    if (absl::string_view id = absl::StripAsciiWhitespace(line); !id.empty()) users.emplace_back(id.data(), id.size());
  if (in.bad()) return absl::DataLossError(Cat("read error in ", path == "-" ? "<stdin>" : path));
  if (users.empty())
    return absl::InvalidArgumentError(Cat(path == "-" ? "<stdin>" : path, " holds no user id (one per line)"));
  return users;
}

// The users of one kind, counted and the first few named: "3 (u1, u2, u3)".
struct NamedCount {
  size_t n = 0;
  std::vector<std::string> first;
  void Add(const std::string& user) {
    if (n++ < kNamedUsers) first.push_back(user);
  }
  std::string Names() const {
    std::string s;
    for (const std::string& u : first) s += (s.empty() ? "" : ", ") + u;
    if (n > first.size()) s += ", ...";
    return s;
  }
};

Status RunRecommend(const CommonOptions& common, const RecommendArgs& args) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  if (args.user.empty() == args.users_file.empty())
    return absl::InvalidArgumentError("recommend: give exactly one of --user ID or --users FILE");
  std::vector<std::string> users;
  if (!args.user.empty()) {
    users.push_back(args.user);
  } else {
    FUNNEL_ASSIGN_OR_RETURN(users, ReadUsers(args.users_file));
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
  // The sources' fits (popularity, factors) saw everything before the cutoff: a request made
  // earlier is answered with knowledge of its future, which a backtest must not do unawares.
  if (loaded->manifest().cutoff > at)
    std::cerr << "funnel: warning: model " << loaded->manifest().version << " was trained on events up to "
              << FormatUtc(loaded->manifest().cutoff) << ", after the request time " << FormatUtc(at)
              << ": its lists use later data (for a backtest, train with --until " << FormatUtc(at) << " first)\n";
  serving::ModelHandle models(std::move(loaded));
  FUNNEL_ASSIGN_OR_RETURN(training::RetrievalTrainOptions topt, training::RetrievalTrainOptionsFromConfig(cfg));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<features::FeatureSpec> specs, LoadFeatureSpecs(cfg));
  serving::RequestPipeline pipeline(*store, models, cfg.events, topt.rerank, std::move(specs));

  std::ofstream file;
  const bool to_stdout = args.out.empty() || args.out == "-";
  if (!to_stdout) {
    file.open(args.out);
    if (!file) return absl::InvalidArgumentError(Cat("cannot write ", args.out));
  }
  std::ostream& out = to_stdout ? std::cout : file;
  if (args.header) out << "user\titem\trank\tscore\n";
  NamedCount unknown, no_events_before, short_exhausted, short_candidates;
  size_t shortest = static_cast<size_t>(args.k);
  size_t catalog = 0;
  for (const std::string& user : users) {
    FUNNEL_ASSIGN_OR_RETURN(serving::Recommendation r,
                            pipeline.Recommend({.user = user, .k = static_cast<size_t>(args.k), .at = at}));
    // Expected cases, reported together below: cold users get the popularity and freshness sources.
    catalog = r.catalog;
    if (r.history == serving::UserHistory::kUnknownUser) unknown.Add(user);
    if (r.history == serving::UserHistory::kNoEventsBeforeAt) no_events_before.Add(user);
    if (r.items.size() < static_cast<size_t>(args.k)) {
      shortest = std::min(shortest, r.items.size());
      // Every item the user may still be shown was listed, or the sources' quotas ran dry first.
      (r.catalog <= r.excluded + r.items.size() ? short_exhausted : short_candidates).Add(user);
    }
    for (const serving::RecommendedItem& it : r.items)
      out << user << '\t' << it.item << '\t' << it.rank << '\t' << fmt::format("{:.6g}", it.score) << '\n';
  }
  out.flush();
  if (!out) return absl::InternalError(Cat("cannot write ", to_stdout ? "stdout" : args.out));

  const size_t n = users.size();
  // Cold users get the sources that need no history (popular, trending, fresh).
  if (unknown.n > 0)
    std::cerr << fmt::format("funnel: cold start for {} of {}: unknown, no event stored: {}\n", unknown.n,
                             Count(n, "user"), unknown.Names());
  if (no_events_before.n > 0)
    std::cerr << fmt::format("funnel: cold start for {} of {}: no events before the request time {} (they exist, "
                             "with later events or attributes only): {}\n",
                             no_events_before.n, Count(n, "user"), FormatUtc(at), no_events_before.Names());
  if (short_exhausted.n > 0)
    std::cerr << fmt::format("funnel: {} got fewer than {} items (shortest {}): the catalog of {} is exhausted after "
                             "excluding what each user already consumed: {}\n",
                             Count(short_exhausted.n, "list"), args.k, shortest, Count(catalog, "item"),
                             short_exhausted.Names());
  if (short_candidates.n > 0)
    std::cerr << fmt::format("funnel: {} got fewer than {} items (shortest {}): the sources found too few new "
                             "candidates (raise [retrieval] max_candidates or the sources' quotas): {}\n",
                             Count(short_candidates.n, "list"), args.k, shortest, short_candidates.Names());
  return absl::OkStatus();
}

}  // namespace

void AddRecommendCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand("recommend", "Recommendations from the current model, as TSV: user, item, rank, score");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<RecommendArgs>();
  sub->add_option("--user", args->user, "One user id");
  sub->add_option("--users", args->users_file, "A file of user ids, one per line (trimmed), or - for stdin");
  sub->add_option("--k", args->k, "Items per user")->capture_default_str()->check(CLI::Range(1, kMaxK));
  sub->add_option("--out", args->out, "Write the TSV here, or - for stdout (default: stdout)");
  sub->add_option("--at", args->at,
                  "Request time: Unix seconds, a date or an RFC 3339 date-time (default: the data's present, "
                  "just past the newest stored event)");
  sub->add_flag("--header", args->header, "Write a header line: user, item, rank, score");
  sub->callback([&common, args, exit_code] {
    Status s = RunRecommend(common, *args);
    *exit_code = s.ok() ? kExitOk : Fail(s);
  });
}

}  // namespace funnel::cli
