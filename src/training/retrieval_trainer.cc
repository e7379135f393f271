#include "funnel/training/retrieval_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <span>

#include "funnel/core/logging.h"
#include "funnel/core/thread_pool.h"
#include "funnel/ranking/store_features.h"

namespace funnel::training {

namespace {

using retrieval::Candidate;
using retrieval::CandidateSet;
using retrieval::Source;
using retrieval::SourceSlot;
using retrieval::TrainingSet;
using retrieval::UserState;
using Clock = std::chrono::steady_clock;

using Choices = RetrievalChoices;

// A source to fit on a training set with given choices (one run's SourceFit with its options
// bound); an error skips the source (with a warning), e.g. EASE on a catalog too large for it.
using SourceFactory = std::function<StatusOr<std::shared_ptr<const Source>>(const TrainingSet&, const Choices&)>;

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

// The sources `o` names, in its order, each with `o` bound. `fits` must outlive the result.
StatusOr<std::vector<Named>> Factories(const SourceFits& fits, const RetrievalTrainOptions& o) {
  std::vector<Named> out;
  for (const std::string& name : o.sources) {
    FUNNEL_ASSIGN_OR_RETURN(const SourceFit* fit, fits.Find(name));
    out.push_back({name, [fit, &o](const TrainingSet& ts, const Choices& c) { return (*fit)(ts, c, o); }});
  }
  if (out.empty()) return absl::InvalidArgumentError("retrieval.sources is empty: name at least one source");
  return out;
}

size_t QuotaOf(const RetrievalTrainOptions& o, std::string_view name) {
  auto it = o.quotas.find(name);
  return it == o.quotas.end() ? 100 : it->second;
}

// One validation carve-out: its split, what it trains on, its users' request-time states.
struct Window {
  eval::Split split;
  TrainingSet ts;
  std::vector<UserState> states;
};

// Candidate sets of every window's users, pooled, with each one's ground truth.
struct Pool {
  std::vector<CandidateSet> sets;
  std::vector<const std::vector<ItemIdx>*> truths;
  size_t catalog = 0;
};

double Objective(const eval::MetricsSummary& s) { return 0.5 * (s.ndcg10.mean + s.recall20.mean); }

// Metrics of one source alone (its own top 20) over every window's users; sources[w] is the
// source fitted on window w's training set.
eval::MetricsSummary EvaluateFitted(std::span<const std::shared_ptr<const Source>> sources,
                                    std::span<const Window> windows, int threads) {
  eval::MetricsAccumulator acc;
  for (size_t w = 0; w < windows.size(); ++w) {
    const Window& win = windows[w];
    const Source& source = *sources[w];
    std::vector<eval::UserMetrics> m(win.states.size());
    std::vector<std::vector<ItemIdx>> tops(win.states.size());
    ParallelFor(win.states.size(), threads, [&](size_t begin, size_t end, int) {
      std::vector<Candidate> top;
      for (size_t u = begin; u < end; ++u) {
        source.Retrieve(win.states[u], {.k = 20, .now = win.split.cutoff}, &top);
        for (const Candidate& c : top) tops[u].push_back(ItemIdx{c.item});
        m[u] = eval::ScoreList(tops[u], win.split.users[u].truth);
      }
    }, 16);
    for (size_t u = 0; u < win.states.size(); ++u) acc.Add(static_cast<int>(w), m[u], tops[u]);
    acc.SetCatalogSize(static_cast<int>(w), win.split.catalog.size());
  }
  return acc.Overall();
}

// The same, fitting the source on each window with `choices` first. Fails when it cannot be fitted.
StatusOr<eval::MetricsSummary> EvaluateAlone(const SourceFactory& make, const Choices& choices,
                                             std::span<const Window> windows, int threads) {
  std::vector<std::shared_ptr<const Source>> fitted;
  for (const Window& win : windows) {
    FUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<const Source> source, make(win.ts, choices));
    fitted.push_back(std::move(source));
  }
  return EvaluateFitted(fitted, windows, threads);
}

// Fused top 20 of each pooled (already normalized) candidate set under weights `w`.
eval::MetricsSummary EvaluateFusion(const Pool& pool, const std::vector<double>& w, int threads) {
  std::vector<eval::UserMetrics> m(pool.sets.size());
  std::vector<std::vector<ItemIdx>> tops(pool.sets.size());
  ParallelFor(pool.sets.size(), threads, [&](size_t begin, size_t end, int) {
    std::vector<Candidate> scored;
    for (size_t u = begin; u < end; ++u) {
      const CandidateSet& c = pool.sets[u];
      scored.resize(c.items.size());
      for (size_t j = 0; j < c.items.size(); ++j) {
        double f = 0;
        for (size_t s = 0; s < c.sources; ++s) f += w[s] * c.Score(j, s);
        scored[j] = {c.items[j], static_cast<float>(f)};
      }
      const size_t k = std::min<size_t>(20, scored.size());
      std::partial_sort(scored.begin(), scored.begin() + k, scored.end(), [](const Candidate& x, const Candidate& y) {
        return x.score != y.score ? x.score > y.score : x.item < y.item;
      });
      for (size_t j = 0; j < k; ++j) tops[u].push_back(ItemIdx{scored[j].item});
      m[u] = eval::ScoreList(tops[u], *pool.truths[u]);
    }
  }, 16);
  eval::MetricsAccumulator acc;
  for (size_t u = 0; u < pool.sets.size(); ++u) acc.Add(0, m[u], tops[u]);
  acc.SetCatalogSize(0, pool.catalog);
  return acc.Overall();
}

// Coordinate ascent on fusion weights over the pooled validation candidate sets, maximizing
// the validation objective directly; each trial only re-sums scores.
std::vector<double> TuneWeights(const Pool& pool, size_t n, int threads, eval::MetricsSummary* best_summary) {
  auto evaluate = [&](const std::vector<double>& w) { return EvaluateFusion(pool, w, threads); };
  static constexpr double kGrid[] = {0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5};
  std::vector<double> w(n, 1.0);
  eval::MetricsSummary best = evaluate(w);
  for (int pass = 0; pass < 3; ++pass) {
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

// Fusion weights by logistic regression over every validation candidate: features are the
// standardized source scores, the label says whether the candidate is in the user's ground
// truth. Each user's positives and negatives weigh 1 in total each, so heavy users do not
// dominate; L2 keeps weights finite when a source separates perfectly.
std::vector<double> FitFusionLogistic(const Pool& pool, size_t n, double l2) {
  const auto d = static_cast<Eigen::Index>(n + 1);  // + intercept
  const std::vector<CandidateSet>& z = pool.sets;
  Eigen::VectorXd w = Eigen::VectorXd::Zero(d);
  for (int iter = 0; iter < 25; ++iter) {
    Eigen::VectorXd grad = Eigen::VectorXd::Zero(d);
    Eigen::MatrixXd hess = Eigen::MatrixXd::Zero(d, d);
    Eigen::VectorXd x(d);
    for (size_t u = 0; u < z.size(); ++u) {
      const auto& truth = *pool.truths[u];
      const CandidateSet& c = z[u];
      size_t pos = 0;
      for (uint32_t item : c.items) pos += std::binary_search(truth.begin(), truth.end(), ItemIdx{item});
      if (pos == 0 || pos == c.items.size()) continue;
      const double wp = 1.0 / static_cast<double>(pos), wn = 1.0 / static_cast<double>(c.items.size() - pos);
      for (size_t j = 0; j < c.items.size(); ++j) {
        const bool y = std::binary_search(truth.begin(), truth.end(), ItemIdx{c.items[j]});
        for (size_t s = 0; s < n; ++s) x[static_cast<Eigen::Index>(s)] = c.Score(j, s);
        x[d - 1] = 1.0;
        const double p = 1.0 / (1.0 + std::exp(-w.dot(x))), sw = y ? wp : wn;
        grad += sw * (p - (y ? 1.0 : 0.0)) * x;
        hess += sw * p * (1 - p) * x * x.transpose();
      }
    }
    for (Eigen::Index s = 0; s + 1 < d; ++s) {
      grad[s] += l2 * w[s];
      hess(s, s) += l2;
    }
    hess += 1e-9 * Eigen::MatrixXd::Identity(d, d);
    Eigen::VectorXd step = hess.ldlt().solve(grad);
    w -= step;
    if (step.cwiseAbs().maxCoeff() < 1e-6) break;
  }
  return std::vector<double>(w.data(), w.data() + n);  // the intercept does not change a ranking
}

std::vector<retrieval::FusionOptions> FusionGrid(const RetrievalTrainOptions& o) {
  std::vector<retrieval::FusionOptions> grid;
  if (o.fusion_normalization == "score") return {{.normalization = retrieval::FusionOptions::kScore}};
  for (double k0 : o.rank_offsets) grid.push_back({.normalization = retrieval::FusionOptions::kRank, .rank_offset = k0});
  return grid;
}

StatusOr<uint64_t> CountBefore(const store::EventStore& store, Timestamp cutoff) {
  uint64_t n = 0;
  FUNNEL_RETURN_IF_ERROR(store.Replay(Timestamp::Min(), cutoff, [&](const store::StoredEvent&) {
    ++n;
    return true;
  }));
  return n;
}

std::string Fmt(double v) { return fmt::format("{:.3g}", v); }

}  // namespace

SourceFits BuiltinSourceFits() {
  using Ptr = std::shared_ptr<const Source>;
  using Options = RetrievalTrainOptions;
  SourceFits fits("retrieval source");
  // The order is retrieval::AddBuiltinSources's, so both registries list the same names alike.
  const Status added[] = {
      fits.Add("popular", [](const TrainingSet& ts, const Choices&, const Options&) -> StatusOr<Ptr> {
        return Ptr(retrieval::PopularitySource::Build(ts, {.name = "popular"}));
      }),
      fits.Add("trending", [](const TrainingSet& ts, const Choices& c, const Options&) -> StatusOr<Ptr> {
        return Trending(ts, c.trending_fraction);
      }),
      fits.Add("fresh", [](const TrainingSet& ts, const Choices&, const Options& o) -> StatusOr<Ptr> {
        return Ptr(retrieval::FreshSource::Build(ts, o.fresh));
      }),
      fits.Add("covisit", [](const TrainingSet& ts, const Choices&, const Options& o) -> StatusOr<Ptr> {
        return Ptr(retrieval::CovisitSource::Build(ts, o.covisit));
      }),
      fits.Add("ials", [](const TrainingSet& ts, const Choices& c, const Options& o) -> StatusOr<Ptr> {
        retrieval::IalsOptions io = o.ials;
        io.regularization = c.ials_regularization;
        io.alpha = c.ials_alpha;
        io.threads = o.threads;
        FUNNEL_ASSIGN_OR_RETURN(auto src, retrieval::IalsSource::Build(ts, io, o.ann));
        return Ptr(std::move(src));
      }),
      fits.Add("ease", [](const TrainingSet& ts, const Choices& c, const Options& o) -> StatusOr<Ptr> {
        retrieval::EaseOptions eo = o.ease;
        eo.lambda = c.ease_lambda;
        eo.threads = o.threads;
        FUNNEL_ASSIGN_OR_RETURN(auto src, retrieval::EaseSource::Build(ts, eo));
        return Ptr(std::move(src));
      }),
  };
  // Fixed names in this file: a clash is a programming error, not bad input.
  for (const Status& s : added) FUNNEL_CHECK(s.ok());
  return fits;
}

std::vector<std::string> KnownSources() { return BuiltinSourceFits().Names(); }

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

namespace {

// What every phase of one training run shares: its options, threads and clock.
struct Run {
  const RetrievalTrainOptions& options;
  const std::vector<Named>& factories;
  int threads;
  Clock::time_point start;

  double Elapsed() const { return std::chrono::duration<double>(Clock::now() - start).count(); }
  bool OverBudget() const { return Elapsed() > options.time_budget_seconds; }
  bool Has(std::string_view name) const {
    return std::any_of(factories.begin(), factories.end(), [&](const Named& n) { return n.name == name; });
  }
  const SourceFactory& Factory(std::string_view name) const {
    return std::find_if(factories.begin(), factories.end(), [&](const Named& n) { return n.name == name; })->make;
  }
};

// Phase 1. Validation carve-outs: the last `validation_fraction` of the training events, then
// the same amount before it, and so on: several windows pool enough users for stable choices.
StatusOr<std::vector<Window>> CarveValidationWindows(const store::EventStore& store, const EventsConfig& events,
                                                     Timestamp cutoff, const Run& run, size_t* validation_users) {
  const RetrievalTrainOptions& options = run.options;
  std::vector<Window> windows;
  StatusOr<uint64_t> total = CountBefore(store, cutoff);
  Timestamp end = cutoff;
  for (int w = 0; total.ok() && w < options.validation_windows; ++w) {
    const double remaining = 1.0 - w * options.validation_fraction;
    if (remaining - options.validation_fraction < 0.3) break;  // keep most of the data for training
    StatusOr<eval::Split> split = eval::ValidationSplit(store, events, end, options.validation_fraction / remaining);
    if (!split.ok()) {
      if (w == 0) spdlog::warn("retrieval: no validation split ({}); using the shipped defaults", MessageOf(split.status()));
      break;
    }
    end = split->cutoff;
    if (split->users.empty()) continue;
    // A deterministic sample bounds the cost of tuning on large logs; a few thousand users
    // already measure differences of a few percent.
    const size_t cap = std::max<size_t>(1, options.max_validation_users / static_cast<size_t>(options.validation_windows));
    if (split->users.size() > cap) {
      std::vector<eval::TestUser> kept;
      const double stride = static_cast<double>(split->users.size()) / static_cast<double>(cap);
      for (size_t k = 0; k < cap; ++k) kept.push_back(std::move(split->users[static_cast<size_t>(k * stride)]));
      split->users = std::move(kept);
    }
    Window win;
    FUNNEL_ASSIGN_OR_RETURN(win.ts, retrieval::BuildTrainingSet(store, events, split->cutoff, options.data));
    FUNNEL_ASSIGN_OR_RETURN(win.states, SplitUserStates(store, events, options.data, *split));
    win.split = std::move(*split);
    *validation_users += win.states.size();
    windows.push_back(std::move(win));
  }
  if (windows.empty() && total.ok()) spdlog::warn("retrieval: no validation users; using the shipped defaults");
  spdlog::info("retrieval: {} validation window(s), {} users ({:.1f} s)", windows.size(), *validation_users, run.Elapsed());
  return windows;
}

// Phase 2. Each tunable source's parameters, by its own pooled validation quality; a grid stops
// early when the time budget runs out (the best so far, or the default, stays).
Choices TuneSourceParameters(std::span<const Window> windows, const Run& run) {
  const RetrievalTrainOptions& options = run.options;
  Choices choices;
  size_t model_windows = 0;
  for (size_t users = 0; model_windows < windows.size() && users < options.min_model_tuning_users; ++model_windows)
    users += windows[model_windows].states.size();
  auto pick = [&](std::string_view what, const std::vector<Choices>& grid) {
    double best = -1;
    Choices chosen = choices;
    for (const Choices& c : grid) {
      if (best >= 0 && run.OverBudget()) {
        spdlog::warn("retrieval: time budget spent; {} tuning stops early", what);
        break;
      }
      // Expensive sources on the newest windows with enough users; the cheap ones on all of them.
      const bool expensive = what == "ials" || what == "ease";
      StatusOr<eval::MetricsSummary> got =
          EvaluateAlone(run.Factory(what), c, windows.first(expensive ? model_windows : windows.size()), run.threads);
      if (!got.ok()) {
        spdlog::warn("retrieval: {}: {}", what, MessageOf(got.status()));
        return;
      }
      spdlog::debug("retrieval: {} candidate scores {:.4f}", what, Objective(*got));
      if (Objective(*got) > best) {
        best = Objective(*got);
        chosen = c;
      }
    }
    choices = chosen;
    spdlog::info("retrieval: tuned {} ({:.1f} s)", what, run.Elapsed());
  };
  auto grid_of = [&](const std::vector<double>& values, double Choices::*field) {
    std::vector<Choices> grid;
    for (double v : values) {
      Choices c = choices;
      c.*field = v;
      grid.push_back(c);
    }
    return grid;
  };
  if (run.Has("trending")) pick("trending", grid_of(options.trending_half_life_fractions, &Choices::trending_fraction));
  if (run.Has("ease")) pick("ease", grid_of(options.ease_lambdas, &Choices::ease_lambda));
  if (run.Has("ials")) {
    std::vector<Choices> grid;
    for (double a : options.ials_alphas)
      for (double r : options.ials_regularizations) {
        Choices c = choices;
        c.ials_alpha = a;
        c.ials_regularization = r;
        grid.push_back(c);
      }
    pick("ials", grid);
  }
  return choices;
}

// Phase 3. Every window's sources with the choices made (fitted once), each alone on
// validation, and their merged candidates pooled over the windows for the fusion.
struct PooledCandidates {
  Pool pool;
  std::vector<std::string> names;  // the sources in the pool, in factory order
  std::vector<ValidationRow> rows;  // each source alone
  std::vector<std::vector<std::shared_ptr<const Source>>> fitted;  // [source][window]
  std::vector<int> window_of;                  // per pooled set
  std::vector<const UserState*> state_of;      // per pooled set
};

PooledCandidates PoolValidationCandidates(std::span<const Window> windows, const Choices& choices, const Run& run) {
  PooledCandidates out;
  out.pool.catalog = windows.front().split.catalog.size();
  std::vector<std::vector<std::shared_ptr<const Source>>> fitted;  // [source][window]
  for (const Named& f : run.factories) {
    std::vector<std::shared_ptr<const Source>> per_window;
    for (const Window& win : windows) {
      StatusOr<std::shared_ptr<const Source>> src = f.make(win.ts, choices);
      if (!src.ok()) break;  // warned above, or fails again on the full data below
      per_window.push_back(*src);
    }
    if (per_window.size() != windows.size()) continue;  // keep windows alike
    out.names.push_back(f.name);
    fitted.push_back(std::move(per_window));
  }
  for (size_t w = 0; w < windows.size(); ++w) {
    std::vector<SourceSlot> slots;
    for (size_t s = 0; s < out.names.size(); ++s) slots.push_back({fitted[s][w], QuotaOf(run.options, out.names[s]), 1.0});
    retrieval::Merger merger(slots, run.options.max_candidates);
    const Window& win = windows[w];
    std::vector<CandidateSet> sets(win.states.size());
    ParallelFor(win.states.size(), run.threads, [&](size_t begin, size_t end, int) {
      for (size_t u = begin; u < end; ++u) sets[u] = merger.Candidates(win.states[u], win.split.cutoff);
    }, 8);
    for (size_t u = 0; u < sets.size(); ++u) {
      out.pool.sets.push_back(std::move(sets[u]));
      out.pool.truths.push_back(&win.split.users[u].truth);
      out.window_of.push_back(static_cast<int>(w));
      out.state_of.push_back(&win.states[u]);
    }
  }
  for (size_t s = 0; s < out.names.size(); ++s) {
    const std::string& name = out.names[s];
    std::string params;
    if (name == "trending") params = Cat("half-life ", Fmt(choices.trending_fraction * PeriodDays(windows[0].ts)), " d");
    if (name == "ease") params = Cat("lambda ", Fmt(choices.ease_lambda));
    if (name == "ials") params = Cat("alpha ", Fmt(choices.ials_alpha), ", regularization ", Fmt(choices.ials_regularization));
    out.rows.push_back({name, params, EvaluateFitted(fitted[s], windows, run.threads)});
  }
  out.fitted = std::move(fitted);
  spdlog::info("retrieval: validation candidates for {} users ({:.1f} s)", out.pool.sets.size(), run.Elapsed());
  return out;
}

// Phase 4. The normalization and its rank offset, then the weights, on the pooled candidates.
struct TunedFusion {
  retrieval::FusionOptions fusion;
  std::map<std::string, double> weight_of;
  ValidationRow row;
};

TunedFusion TuneFusion(const PooledCandidates& pooled, const Run& run) {
  const RetrievalTrainOptions& options = run.options;
  TunedFusion out;
  eval::MetricsSummary fused;
  std::vector<double> tuned;
  double best = -1;
  for (retrieval::FusionOptions fo : FusionGrid(options)) {
    Pool normalized = pooled.pool;
    for (CandidateSet& c : normalized.sets) retrieval::NormalizeColumns(&c, fo);
    eval::MetricsSummary got;
    std::vector<double> w;
    if (options.fusion == "logistic") {
      w = FitFusionLogistic(normalized, pooled.names.size(), options.fusion_l2);
      got = EvaluateFusion(normalized, w, run.threads);
    } else {
      w = TuneWeights(normalized, pooled.names.size(), run.threads, &got);
    }
    if (Objective(got) > best) {
      best = Objective(got);
      fused = got;
      tuned = w;
      out.fusion = fo;
    }
    if (run.OverBudget()) break;
  }
  spdlog::info("retrieval: tuned the fusion ({:.1f} s)", run.Elapsed());
  std::string w;
  for (size_t s = 0; s < tuned.size(); ++s) {
    w += Cat(s ? " " : "", pooled.names[s], "=", Fmt(tuned[s]));
    out.weight_of[pooled.names[s]] = tuned[s];
  }
  w += out.fusion.normalization == retrieval::FusionOptions::kRank ? Cat("; ranks, offset ", Fmt(out.fusion.rank_offset))
                                                                    : std::string("; raw scores");
  out.row = {"fusion", w, fused};
  return out;
}

// Phase 4b. The ranker, on the pooled candidates as each window's tuned merger fuses them.
StatusOr<TrainedRanker> TrainRankingStage(const store::EventStore& store, const PooledCandidates& pooled,
                                          const TunedFusion& fusion, std::span<const Window> window_list,
                                          const Run& run) {
  const size_t windows = window_list.size();
  std::vector<Timestamp> cutoffs;
  for (const Window& win : window_list) cutoffs.push_back(win.split.cutoff);
  std::vector<retrieval::Merger> mergers;
  mergers.reserve(windows);
  for (size_t w = 0; w < windows; ++w) {
    std::vector<SourceSlot> slots;
    for (size_t s = 0; s < pooled.names.size(); ++s) {
      auto weight = fusion.weight_of.find(pooled.names[s]);
      slots.push_back({pooled.fitted[s][w], QuotaOf(run.options, pooled.names[s]),
                       weight == fusion.weight_of.end() ? 1.0 : weight->second});
    }
    mergers.emplace_back(std::move(slots), run.options.max_candidates, fusion.fusion);
  }
  // The feature store as of each window's start: its users' features before their labels.
  std::vector<std::unique_ptr<ranking::FoldAtTime>> folds;
  if (!run.options.store_features.empty() && !run.options.ranking.rankers.empty()) {
    for (size_t w = 0; w < windows; ++w) {
      FUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<ranking::FoldAtTime> fold,
                              ranking::FoldAtTime::Create(run.options.store_features, &store));
      FUNNEL_RETURN_IF_ERROR(fold->AdvanceTo(cutoffs[w]));
      folds.push_back(std::move(fold));
    }
  }
  std::vector<ranking::FoldFeatures> store_rows;
  store_rows.reserve(pooled.pool.sets.size());
  std::vector<RankerExample> examples;
  examples.reserve(pooled.pool.sets.size());
  for (size_t i = 0; i < pooled.pool.sets.size(); ++i) {
    const size_t w = static_cast<size_t>(pooled.window_of[i]);
    const ranking::CandidateFeatureSource* features = nullptr;
    if (!folds.empty()) features = &store_rows.emplace_back(folds[w]->fold(), pooled.state_of[i]->user, cutoffs[w]);
    examples.push_back({&pooled.pool.sets[i], pooled.state_of[i], pooled.pool.truths[i], &mergers[w],
                        pooled.window_of[i], features});
  }
  // Rows in an order of the data, not of the store's indexes (window, then user id): logistic
  // regression's shuffle and the trees' row sampling then give one model for one data set,
  // whatever order its users were first stored in (an outside tool's import, say).
  std::vector<std::string> names;
  names.reserve(examples.size());
  for (const RankerExample& ex : examples)
    names.push_back(ex.user->user == retrieval::UserState::kUnknownUser ? std::string()
                                                                         : store.UserName(UserIdx{ex.user->user}));
  std::vector<size_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return examples[a].window != examples[b].window ? examples[a].window < examples[b].window : names[a] < names[b];
  });
  std::vector<RankerExample> ordered;
  ordered.reserve(examples.size());
  for (size_t i : order) ordered.push_back(examples[i]);
  spdlog::info("ranking: {} feature-store columns ({:.1f} s)", folds.empty() ? 0 : folds.front()->fold().names().size(),
               run.Elapsed());
  return TrainRanker(ordered, run.options.ranking, run.threads);
}

// Phase 5. Every source refitted on the whole training part with the choices made.
Status FitFinalSources(const store::EventStore& store, const EventsConfig& events, const Run& run,
                       const std::map<std::string, double>& weight_of, TrainedRetrieval* out) {
  FUNNEL_ASSIGN_OR_RETURN(TrainingSet ts, retrieval::BuildTrainingSet(store, events, out->cutoff, run.options.data));
  out->num_users = ts.num_users;
  out->num_items = ts.num_items;
  out->training_events = ts.events;
  for (const Named& f : run.factories) {
    StatusOr<std::shared_ptr<const Source>> src = f.make(ts, out->choices);
    if (!src.ok()) {
      spdlog::warn("retrieval: source {} skipped: {}", f.name, MessageOf(src.status()));
      continue;
    }
    auto w = weight_of.find(f.name);
    out->slots.push_back({*src, QuotaOf(run.options, f.name), w == weight_of.end() ? 1.0 : w->second});
  }
  if (out->slots.empty()) return absl::FailedPreconditionError("retrieval: no source could be trained");
  return absl::OkStatus();
}

}  // namespace

StatusOr<TrainedRetrieval> TrainRetrieval(const store::EventStore& store, const EventsConfig& events, Timestamp cutoff,
                                          const RetrievalTrainOptions& options) {
  const auto start = Clock::now();
  // "Everything" means everything stored now: the cutoff becomes just past the newest event, so
  // ages and decays are measured from the data's present (not from the end of time, where every
  // decayed count is zero), and events stored later are after the cutoff, where the live
  // co-visitation fold picks them up.
  if (cutoff == Timestamp::Max()) {
    if (const std::optional<Timestamp> present = store::DataPresent(store)) cutoff = *present;
  }
  const SourceFits fits = BuiltinSourceFits();
  FUNNEL_ASSIGN_OR_RETURN(const std::vector<Named> factories, Factories(fits, options));
  const Run run{options, factories, options.threads > 0 ? options.threads : HardwareThreads(), start};
  // Nothing before the cutoff: an error, not an empty model that recommends nothing.
  bool any_event = false;
  FUNNEL_RETURN_IF_ERROR(store.Replay(Timestamp::Min(), cutoff, [&](const store::StoredEvent&) {
    any_event = true;
    return false;
  }));
  if (!any_event)
    return absl::FailedPreconditionError(
        cutoff == Timestamp::Max() ? std::string("retrieval: the event store holds no events: nothing to train on")
                                   : Cat("retrieval: no events before ", FormatUtc(cutoff), ": nothing to train on"));
  TrainedRetrieval out;
  out.cutoff = cutoff;
  out.max_candidates = options.max_candidates;
  out.data = options.data;
  out.fusion = FusionGrid(options).front();
  if (out.fusion.normalization == retrieval::FusionOptions::kRank) out.fusion.rank_offset = options.rank_offset;
  std::map<std::string, double> weight_of;  // tuned fusion weights; 1 when not tuned

  std::vector<Window> windows;
  std::vector<std::string> ranker_sources;  // the sources the ranker's rows were computed with
  if (options.tune) {
    FUNNEL_ASSIGN_OR_RETURN(windows, CarveValidationWindows(store, events, cutoff, run, &out.validation_users));
    if (out.validation_users < options.min_validation_users) {
      out.untuned = Cat("the validation carve-out holds ", out.validation_users, " user",
                        out.validation_users == 1 ? "" : "s", ", fewer than min_validation_users = ",
                        options.min_validation_users, ": too few to tell settings apart, so the shipped defaults are kept");
      spdlog::warn("retrieval: {}", out.untuned);
      windows.clear();
    }
  }
  if (!windows.empty()) {
    out.choices = TuneSourceParameters(windows, run);
    PooledCandidates pooled = PoolValidationCandidates(windows, out.choices, run);
    TunedFusion fusion = TuneFusion(pooled, run);
    FUNNEL_ASSIGN_OR_RETURN(TrainedRanker ranked, TrainRankingStage(store, pooled, fusion, windows, run));
    out.validation = std::move(pooled.rows);
    out.validation.push_back(std::move(fusion.row));
    for (ValidationRow& row : ranked.validation) out.validation.push_back(std::move(row));
    out.ranker = std::move(ranked.ranker);
    out.ranking_verdict = std::move(ranked.verdict);
    ranker_sources = std::move(pooled.names);
    out.fusion = fusion.fusion;
    weight_of = std::move(fusion.weight_of);
  } else if (!options.ranking.rankers.empty()) {
    out.ranking_verdict = "skipped: it learns on the validation carve-outs, and tuning did not run; the fusion serves";
  }
  if (options.validate_only) {
    out.seconds = run.Elapsed();
    return out;
  }
  FUNNEL_RETURN_IF_ERROR(FitFinalSources(store, events, run, weight_of, &out));
  if (out.ranker != nullptr) {
    std::vector<std::string> final_sources;
    for (const SourceSlot& slot : out.slots) final_sources.emplace_back(slot.source->name());
    if (final_sources != ranker_sources) {
      out.ranker = nullptr;
      out.ranking_verdict = "the fusion serves: a source could not be refitted on the whole training part, so the "
                            "ranker's features would not match";
      spdlog::warn("ranking: {}", out.ranking_verdict);
    }
  }
  out.seconds = run.Elapsed();
  return out;
}

}  // namespace funnel::training
