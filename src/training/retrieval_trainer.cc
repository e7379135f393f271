#include "funnel/training/retrieval_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

#include "funnel/core/logging.h"
#include "funnel/core/thread_pool.h"

namespace funnel::training {

namespace {

using retrieval::Candidate;
using retrieval::CandidateSet;
using retrieval::Source;
using retrieval::SourceSlot;
using retrieval::TrainingSet;
using retrieval::UserState;
using Clock = std::chrono::steady_clock;

// What tuning chooses, with the shipped defaults used when it cannot run.
struct Choices {
  double trending_fraction = 0.01;
};

// A source to fit on a training set with given choices.
using SourceFactory = std::function<std::shared_ptr<const Source>(const TrainingSet&, const Choices&)>;

double PeriodDays(const TrainingSet& ts) {
  int64_t first = INT64_MAX;
  for (int64_t t : ts.item_first_seen_us) first = std::min(first, t);
  if (first == INT64_MAX || first >= ts.cutoff.micros()) return 1;
  return static_cast<double>(ts.cutoff.micros() - first) / 86400e6;
}

std::shared_ptr<const Source> Trending(const TrainingSet& ts, double fraction) {
  return retrieval::PopularitySource::Build(ts, {.name = "trending", .half_life_days = fraction * PeriodDays(ts)});
}

struct Named {
  std::string name;
  SourceFactory make;
};

std::vector<Named> Factories(const RetrievalTrainOptions& o) {
  return {
      {"popular", [](const TrainingSet& ts, const Choices&) {
         return std::shared_ptr<const Source>(retrieval::PopularitySource::Build(ts, {.name = "popular"}));
       }},
      {"trending", [](const TrainingSet& ts, const Choices& c) { return Trending(ts, c.trending_fraction); }},
      {"fresh", [o](const TrainingSet& ts, const Choices&) {
         return std::shared_ptr<const Source>(retrieval::FreshSource::Build(ts, o.fresh));
       }},
      {"covisit", [o](const TrainingSet& ts, const Choices&) {
         return std::shared_ptr<const Source>(retrieval::CovisitSource::Build(ts, o.covisit));
       }},
  };
}

size_t QuotaOf(const RetrievalTrainOptions& o, std::string_view name) {
  auto it = o.quotas.find(name);
  return it == o.quotas.end() ? 100 : it->second;
}

// Metrics of one source alone (its own top 20) over the split's users.
eval::MetricsSummary EvaluateAlone(const Source& source, const eval::Split& split, const std::vector<UserState>& states,
                                   int threads) {
  std::vector<eval::UserMetrics> m(states.size());
  std::vector<std::vector<ItemIdx>> tops(states.size());
  ParallelFor(states.size(), threads, [&](size_t begin, size_t end, int) {
    std::vector<Candidate> top;
    for (size_t u = begin; u < end; ++u) {
      source.Retrieve(states[u], {.k = 20, .now = split.cutoff}, &top);
      for (const Candidate& c : top) tops[u].push_back(ItemIdx{c.item});
      m[u] = eval::ScoreList(tops[u], split.users[u].truth);
    }
  }, 16);
  eval::MetricsAccumulator acc;
  for (size_t u = 0; u < states.size(); ++u) acc.Add(0, m[u], tops[u]);
  acc.SetCatalogSize(0, split.catalog.size());
  return acc.Overall();
}

double Objective(const eval::MetricsSummary& s) { return 0.5 * (s.ndcg10.mean + s.recall20.mean); }

// Coordinate ascent on fusion weights over precomputed candidate sets (standardized once), so
// each trial only re-sums scores: thousands of trials cost seconds.
std::vector<double> TuneWeights(const retrieval::Merger& merger, const std::vector<CandidateSet>& sets,
                                const eval::Split& split, int threads, eval::MetricsSummary* best_summary) {
  const size_t n = merger.slots().size();
  std::vector<CandidateSet> z = sets;
  for (CandidateSet& c : z) retrieval::StandardizeColumns(&c);
  auto evaluate = [&](const std::vector<double>& w) {
    std::vector<eval::UserMetrics> m(z.size());
    std::vector<std::vector<ItemIdx>> tops(z.size());
    ParallelFor(z.size(), threads, [&](size_t begin, size_t end, int) {
      std::vector<Candidate> scored;
      for (size_t u = begin; u < end; ++u) {
        const CandidateSet& c = z[u];
        scored.resize(c.items.size());
        for (size_t j = 0; j < c.items.size(); ++j) {
          double f = 0;
          for (size_t s = 0; s < n; ++s) f += w[s] * c.Score(j, s);
          scored[j] = {c.items[j], static_cast<float>(f)};
        }
        const size_t k = std::min<size_t>(20, scored.size());
        std::partial_sort(scored.begin(), scored.begin() + k, scored.end(), [](const Candidate& a, const Candidate& b) {
          return a.score != b.score ? a.score > b.score : a.item < b.item;
        });
        for (size_t j = 0; j < k; ++j) tops[u].push_back(ItemIdx{scored[j].item});
        m[u] = eval::ScoreList(tops[u], split.users[u].truth);
      }
    }, 16);
    eval::MetricsAccumulator acc;
    for (size_t u = 0; u < z.size(); ++u) acc.Add(0, m[u], tops[u]);
    acc.SetCatalogSize(0, split.catalog.size());
    return acc.Overall();
  };
  static constexpr double kGrid[] = {0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5};
  std::vector<double> w(n, 1.0);
  eval::MetricsSummary best = evaluate(w);
  for (int pass = 0; pass < 4; ++pass) {
    bool improved = false;
    for (size_t s = 0; s < n; ++s) {
      for (double v : kGrid) {
        if (v == w[s]) continue;
        std::vector<double> trial = w;
        trial[s] = v;
        if (std::all_of(trial.begin(), trial.end(), [](double x) { return x == 0; })) continue;
        eval::MetricsSummary got = evaluate(trial);
        if (Objective(got) > Objective(best) + 1e-9) {
          best = got;
          w = trial;
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  *best_summary = best;
  return w;
}

std::string Fmt(double v) { return fmt::format("{:.3g}", v); }

}  // namespace

StatusOr<std::vector<UserState>> SplitUserStates(const store::EventStore& store, const EventsConfig& events,
                                                 const retrieval::TrainingSetOptions& data, const eval::Split& split) {
  retrieval::StrengthRule rule(store, events, data);
  std::vector<UserState> states;
  states.reserve(split.users.size());
  for (const eval::TestUser& u : split.users) {
    FUNNEL_ASSIGN_OR_RETURN(UserState st, retrieval::BuildUserState(store, rule, u.user, split.cutoff, data.recent_items));
    states.push_back(std::move(st));
  }
  return states;
}

StatusOr<TrainedRetrieval> TrainRetrieval(const store::EventStore& store, const EventsConfig& events, Timestamp cutoff,
                                          const RetrievalTrainOptions& options) {
  const auto start = Clock::now();
  const int threads = options.threads > 0 ? options.threads : HardwareThreads();
  const std::vector<Named> factories = Factories(options);
  Choices choices;
  TrainedRetrieval out;
  out.cutoff = cutoff;
  out.max_candidates = options.max_candidates;
  out.data = options.data;
  std::vector<double> weights(factories.size(), 1.0);

  StatusOr<eval::Split> val = absl::FailedPreconditionError("tuning is off");
  if (options.tune) val = eval::ValidationSplit(store, events, cutoff, options.validation_fraction);
  if (options.tune && !val.ok())
    spdlog::warn("retrieval: no validation split ({}); using the shipped defaults", MessageOf(val.status()));
  if (val.ok() && val->users.empty())
    spdlog::warn("retrieval: the validation split has no test users; using the shipped defaults");
  if (val.ok() && !val->users.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(TrainingSet vts, retrieval::BuildTrainingSet(store, events, val->cutoff, options.data));
    FUNNEL_ASSIGN_OR_RETURN(std::vector<UserState> states, SplitUserStates(store, events, options.data, *val));
    out.validation_users = states.size();

    // The trending horizon, by the source's own validation quality.
    double best = -1;
    for (double f : options.trending_half_life_fractions) {
      auto src = Trending(vts, f);
      double got = Objective(EvaluateAlone(*src, *val, states, threads));
      spdlog::debug("retrieval: trending half-life {:.3g} of the period: {:.4f}", f, got);
      if (got > best) {
        best = got;
        choices.trending_fraction = f;
      }
    }

    std::vector<SourceSlot> slots;
    for (const Named& f : factories) {
      auto src = f.make(vts, choices);
      std::string params = f.name == "trending" ? Cat("half-life ", Fmt(choices.trending_fraction * PeriodDays(vts)), " d") : "";
      out.validation.push_back({f.name, params, EvaluateAlone(*src, *val, states, threads)});
      slots.push_back({src, QuotaOf(options, f.name), 1.0});
    }
    retrieval::Merger merger(slots, options.max_candidates);
    std::vector<CandidateSet> sets(states.size());
    ParallelFor(states.size(), threads, [&](size_t begin, size_t end, int) {
      for (size_t u = begin; u < end; ++u) sets[u] = merger.Candidates(states[u], val->cutoff);
    }, 8);
    eval::MetricsSummary fused;
    weights = TuneWeights(merger, sets, *val, threads, &fused);
    std::string w;
    for (size_t s = 0; s < weights.size(); ++s) w += Cat(s ? " " : "", factories[s].name, "=", Fmt(weights[s]));
    out.validation.push_back({"fusion", w, fused});
  }

  FUNNEL_ASSIGN_OR_RETURN(TrainingSet ts, retrieval::BuildTrainingSet(store, events, cutoff, options.data));
  out.num_users = ts.num_users;
  out.num_items = ts.num_items;
  out.training_events = ts.events;
  for (size_t s = 0; s < factories.size(); ++s)
    out.slots.push_back({factories[s].make(ts, choices), QuotaOf(options, factories[s].name), weights[s]});
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace funnel::training
