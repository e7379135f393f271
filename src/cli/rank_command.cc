// funnel rank --requests FILE|- [--out FILE|-] [--header]: the ranking contract (docs/cli.md).
// Reads JSON Lines requests {"request_id":"r1","user":"u1","ts":1700000000,"items":["v1",...]}
// and writes TSV request_id<TAB>item<TAB>rank<TAB>score, rank from 1: every given item ranked
// exactly once (unknown users and items too, with cold features), ties in the request's order.
// `ts` (Unix seconds or an RFC 3339 string; absent: the data's present) is the point in time of
// the request's features: nothing stamped at or after it is used. A malformed line is reported
// on stderr with its line number and skipped; the others are still ranked (exit 2).
#include <algorithm>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <simdjson.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "funnel/core/logging.h"
#include "funnel/serving/request_pipeline.h"

namespace funnel::cli {

namespace {

struct RankArgs {
  std::string requests, out;
  bool header = false;
};

constexpr size_t kMaxItems = 100000;  // per request: a bound on one line's work and memory

struct ParsedRequest {
  std::string id;
  serving::RankRequest request;
};

// One line's request, or why it is refused.
StatusOr<ParsedRequest> ParseRequest(simdjson::dom::parser& parser, std::string_view line) {
  simdjson::dom::element root;
  if (auto err = parser.parse(line.data(), line.size()).get(root))
    return absl::InvalidArgumentError(Cat("not JSON: ", simdjson::error_message(err)));
  if (!root.is_object()) return absl::InvalidArgumentError("not a JSON object");
  ParsedRequest out;
  std::string_view sv;
  int64_t i64 = 0;
  auto id_of = [&](const char* key, std::string* into) -> Status {
    simdjson::dom::element e;
    if (root[key].get(e)) return absl::InvalidArgumentError(Cat("missing \"", key, "\""));
    if (!e.get(sv)) {
      *into = std::string(sv);
    } else if (!e.get(i64)) {
      *into = std::to_string(i64);  // integer ids, as the importers accept them
    } else {
      return absl::InvalidArgumentError(Cat("\"", key, "\" must be a string or an integer"));
    }
    if (into->empty()) return absl::InvalidArgumentError(Cat("\"", key, "\" is empty"));
    return absl::OkStatus();
  };
  FUNNEL_RETURN_IF_ERROR(id_of("request_id", &out.id));
  FUNNEL_RETURN_IF_ERROR(id_of("user", &out.request.user));
  simdjson::dom::element ts;
  if (!root["ts"].get(ts)) {
    double seconds = 0;
    if (!ts.get(i64)) {
      FUNNEL_ASSIGN_OR_RETURN(Timestamp t, ParseTime(std::to_string(i64)));
      out.request.at = t;
    } else if (!ts.get(seconds)) {
      FUNNEL_ASSIGN_OR_RETURN(Timestamp t, ParseTime(fmt::format("{}", seconds)));
      out.request.at = t;
    } else if (!ts.get(sv)) {
      FUNNEL_ASSIGN_OR_RETURN(Timestamp t, ParseTime(sv));
      out.request.at = t;
    } else {
      return absl::InvalidArgumentError("\"ts\" must be Unix seconds or an RFC 3339 string");
    }
  }
  simdjson::dom::array items;
  if (root["items"].get(items)) return absl::InvalidArgumentError("missing \"items\" (an array of item ids)");
  if (items.size() > kMaxItems) return absl::InvalidArgumentError(Cat("more than ", kMaxItems, " items"));
  for (simdjson::dom::element e : items) {
    if (!e.get(sv)) {
      out.request.items.emplace_back(sv);
    } else if (!e.get(i64)) {
      out.request.items.push_back(std::to_string(i64));
    } else {
      return absl::InvalidArgumentError("\"items\" must hold item ids (strings or integers)");
    }
    if (out.request.items.back().empty()) return absl::InvalidArgumentError("an item id is empty");
  }
  return out;
}

Status RunRank(const CommonOptions& common, const RankArgs& args, int* exit_code) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, common.LoadConfig());
  std::ifstream file;
  if (args.requests != "-") {
    file.open(args.requests);
    if (!file) return absl::NotFoundError(Cat("cannot open ", args.requests));
  }
  std::istream& in = args.requests == "-" ? std::cin : file;
  const std::string name = args.requests == "-" ? "<stdin>" : args.requests;
  FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(common, cfg, /*read_only=*/true));
  // The model as trained: folding events past its cutoff (what recommend does) would let a
  // request see events after its own ts.
  FUNNEL_ASSIGN_OR_RETURN(model::ModelRegistry registry, model::ModelRegistry::Open(common.data_dir, common.sources));
  FUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<const model::RetrievalModel> loaded, registry.LoadCurrent());
  const Timestamp cutoff = loaded->manifest().cutoff;
  const std::string version = loaded->manifest().version;
  serving::ModelHandle models(std::move(loaded));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<features::FeatureSpec> specs, LoadFeatureSpecs(cfg));
  serving::RequestPipeline pipeline(*store, models, cfg.events, {}, std::move(specs));

  std::ofstream out_file;
  const bool to_stdout = args.out.empty() || args.out == "-";
  if (!to_stdout) {
    out_file.open(args.out);
    if (!out_file) return absl::InvalidArgumentError(Cat("cannot write ", args.out));
  }
  std::ostream& out = to_stdout ? std::cout : out_file;
  if (args.header) out << "request_id\titem\trank\tscore\n";
  simdjson::dom::parser parser;
  size_t line_no = 0, ranked = 0, rejected = 0, before_cutoff = 0, cold_users = 0, unknown_items = 0, repeats = 0;
  std::vector<ParsedRequest> requests;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    StatusOr<ParsedRequest> req = ParseRequest(parser, line);
    if (!req.ok()) {
      if (++rejected <= 20) std::cerr << fmt::format("funnel: {}:{}: request skipped: {}\n", name, line_no, MessageOf(req.status()));
      continue;
    }
    requests.push_back(std::move(*req));
  }
  if (in.bad()) return absl::DataLossError(Cat("read error in ", name));
  // Answered in time order (the feature store's fold only moves forward cheaply), written in
  // the input's order.
  const Timestamp present = serving::DefaultRequestTime(*store);
  std::vector<size_t> order(requests.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto at_of = [&](size_t i) { return requests[i].request.at.value_or(present); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return at_of(a) < at_of(b); });
  std::vector<std::string> text(requests.size());
  std::optional<Timestamp> earliest;
  for (size_t i : order) {
    const ParsedRequest& req = requests[i];
    FUNNEL_ASSIGN_OR_RETURN(serving::Ranking r, pipeline.Rank(req.request));
    if (r.at < cutoff) {
      ++before_cutoff;
      if (!earliest || r.at < *earliest) earliest = r.at;
    }
    cold_users += r.history != serving::UserHistory::kHistory;
    repeats += r.repeats;
    for (const serving::RankedItem& it : r.items) {
      unknown_items += !it.known;
      text[i] += fmt::format("{}\t{}\t{}\t{:.6g}\n", req.id, it.item, it.rank, it.score);
    }
    ++ranked;
  }
  for (const std::string& t : text) out << t;
  out.flush();
  if (!out) return absl::InternalError(Cat("cannot write ", to_stdout ? "stdout" : args.out));

  std::cerr << fmt::format("funnel: ranked {} with model {}", Count(ranked, "request"), version);
  if (cold_users > 0) std::cerr << fmt::format("; {} for users without events before their ts", cold_users);
  if (unknown_items > 0) std::cerr << fmt::format("; {} the model never saw (cold features)", Count(unknown_items, "item"));
  if (repeats > 0) std::cerr << fmt::format("; {} listed twice in a request, ranked once", Count(repeats, "item"));
  std::cerr << "\n";
  if (before_cutoff > 0)
    std::cerr << fmt::format("funnel: warning: {} made before the model's cutoff {} (earliest {}): the model was "
                             "trained on later events (for a backtest, train with --until {} first)\n",
                             Count(before_cutoff, "request"), FormatUtc(cutoff), FormatUtc(*earliest),
                             FormatUtc(*earliest));
  if (rejected > 0) {
    std::cerr << fmt::format("funnel: {} of {} skipped (malformed; the first 20 are named above)\n",
                             Count(rejected, "request"), line_no);
    *exit_code = ranked > 0 ? kExitRejected : kExitFailure;
  }
  return absl::OkStatus();
}

}  // namespace

void AddRankCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand(
      "rank", "Rank given items per request (JSON Lines in), as TSV: request_id, item, rank, score");
  AddCommonFlags(sub, common);
  auto args = std::make_shared<RankArgs>();
  sub->add_option("--requests", args->requests,
                  "JSON Lines requests {\"request_id\",\"user\",\"ts\",\"items\":[...]}, or - for stdin")
      ->required();
  sub->add_option("--out", args->out, "Write the TSV here, or - for stdout (default: stdout)");
  sub->add_flag("--header", args->header, "Write a header line: request_id, item, rank, score");
  sub->callback([&common, args, exit_code] {
    *exit_code = kExitOk;
    Status s = RunRank(common, *args, exit_code);
    if (!s.ok()) *exit_code = Fail(s);
  });
}

}  // namespace funnel::cli
