#include "funnel/training/retrieval_tuner.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "funnel/core/logging.h"

namespace funnel::training {

namespace {

// Deterministic for a seed on every platform, unlike std:: distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  double Uniform() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return static_cast<double>((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
  }
  double LogUniform(double lo, double hi) { return std::exp(std::log(lo) + Uniform() * (std::log(hi) - std::log(lo))); }
  template <typename T>
  T Pick(const std::vector<T>& v) { return v[static_cast<size_t>(Uniform() * static_cast<double>(v.size())) % v.size()]; }

 private:
  uint64_t state_;
};

// Pins every tuned parameter of `o` to a random value from the search space.
RetrievalTrainOptions Sample(const RetrievalTrainOptions& base, Rng& rng) {
  RetrievalTrainOptions o = base;
  o.trending_half_life_fractions = {rng.LogUniform(0.001, 0.2)};
  o.ease_lambdas = {rng.LogUniform(20, 5000)};
  o.ials_alphas = {rng.LogUniform(0.5, 50)};
  o.ials_regularizations = {rng.LogUniform(1, 500)};
  o.ials.factors = rng.Pick(std::vector<int>{32, 64, 128});
  o.rank_offsets = {rng.LogUniform(5, 300)};
  o.data.low_rating = rng.Pick(std::vector<double>{0, 0.1, 0.25, 0.5, 1});
  o.data.half_life_days = rng.Pick(std::vector<double>{0, 7, 30, 90, 365});
  o.covisit.window_hours = rng.LogUniform(1, 24 * 30);
  o.covisit.decay_hours = rng.LogUniform(0.5, 24 * 14);
  o.covisit.max_gap = rng.Pick(std::vector<int>{2, 5, 10, 20, 40});
  o.covisit.recency = rng.Pick(std::vector<double>{0.5, 0.7, 0.85, 0.95});
  o.covisit.pair_half_life_days = rng.Pick(std::vector<double>{0, 7, 30, 60, 180});
  o.covisit.popularity_exponent = rng.Pick(std::vector<double>{0, 0.2, 0.35, 0.5});
  o.fresh.half_life_days = rng.LogUniform(0.1, 30);
  o.fresh.max_age_days = rng.LogUniform(1, 60);
  return o;
}

// A neighbour of the best trial so far: each continuous parameter scaled by up to ×/÷ 1.6, each
// discrete one re-drawn with probability 1/4. Random search alone wastes most trials once a good
// region is known; this spends half of them there.
RetrievalTrainOptions Perturb(const RetrievalTrainOptions& best, const RetrievalTrainOptions& base, Rng& rng) {
  RetrievalTrainOptions o = best;
  const RetrievalTrainOptions fresh = Sample(base, rng);
  auto scale = [&](double v) { return v * std::exp((rng.Uniform() - 0.5) * 0.94); };
  o.trending_half_life_fractions = {scale(best.trending_half_life_fractions.front())};
  o.ease_lambdas = {scale(best.ease_lambdas.front())};
  o.ials_alphas = {scale(best.ials_alphas.front())};
  o.ials_regularizations = {scale(best.ials_regularizations.front())};
  o.rank_offsets = {scale(best.rank_offsets.front())};
  o.covisit.window_hours = scale(best.covisit.window_hours);
  o.covisit.decay_hours = scale(best.covisit.decay_hours);
  o.fresh.half_life_days = scale(best.fresh.half_life_days);
  o.fresh.max_age_days = scale(best.fresh.max_age_days);
  if (rng.Uniform() < 0.25) o.ials.factors = fresh.ials.factors;
  if (rng.Uniform() < 0.25) o.data.low_rating = fresh.data.low_rating;
  if (rng.Uniform() < 0.25) o.data.half_life_days = fresh.data.half_life_days;
  if (rng.Uniform() < 0.25) o.covisit.max_gap = fresh.covisit.max_gap;
  if (rng.Uniform() < 0.25) o.covisit.recency = fresh.covisit.recency;
  if (rng.Uniform() < 0.25) o.covisit.pair_half_life_days = fresh.covisit.pair_half_life_days;
  if (rng.Uniform() < 0.25) o.covisit.popularity_exponent = fresh.covisit.popularity_exponent;
  return o;
}

std::string Describe(const RetrievalTrainOptions& o, const RetrievalChoices& c, const retrieval::FusionOptions& f) {
  return fmt::format(
      "trending {:.3g} of the period, ease lambda {:.3g}, ials alpha {:.3g} reg {:.3g} f{}, rank offset {:.3g}, "
      "low_rating {:.3g}, strength half-life {:.3g} d, covisit window {:.3g} h decay {:.3g} h gap {} recency {:.3g} "
      "pair half-life {:.3g} d popularity exponent {:.3g}, fresh half-life {:.3g} d",
      c.trending_fraction, c.ease_lambda, c.ials_alpha, c.ials_regularization, o.ials.factors, f.rank_offset,
      o.data.low_rating, o.data.half_life_days, o.covisit.window_hours, o.covisit.decay_hours, o.covisit.max_gap,
      o.covisit.recency, o.covisit.pair_half_life_days, o.covisit.popularity_exponent, o.fresh.half_life_days);
}

}  // namespace

StatusOr<TuneReport> TuneRetrieval(const store::EventStore& store, const EventsConfig& events,
                                   const RetrievalTrainOptions& base, const TuneOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  Rng rng(options.seed);
  TuneReport report;
  for (int trial = 0; trial < options.max_trials; ++trial) {
    if (trial > 0 && elapsed() > options.budget_seconds) break;
    RetrievalTrainOptions o = trial == 0                       ? base
                              : trial < 4 || trial % 2 == 1 ? Sample(base, rng)
                                                            : Perturb(report.best, base, rng);
    o.tune = true;
    o.validate_only = true;
    // Tuning searches the retrieval stage; the ranker is trained by `funnel train` on top of
    // whatever retrieval settings win, so trials skip it.
    o.ranking.rankers.clear();
    // A trial may not run past the overall budget by much: its own grids stop early.
    o.time_budget_seconds = std::max(1.0, options.budget_seconds - elapsed());
    const double t0 = elapsed();
    FUNNEL_ASSIGN_OR_RETURN(TrainedRetrieval t, TrainRetrieval(store, events, options.until, o));
    if (t.validation.empty() || t.validation.back().name != "fusion")
      return absl::FailedPreconditionError(
          t.untuned.empty() ? std::string("tune: no validation carve-out to score on (too few events or users)")
                            : Cat("tune: nothing to tune on: ", t.untuned));
    const eval::MetricsSummary& fused = t.validation.back().metrics;
    TuneTrial result{Describe(o, t.choices, t.fusion), 0.5 * (fused.ndcg10.mean + fused.recall20.mean), fused,
                     elapsed() - t0};
    spdlog::info("tune: trial {}: {:.4f} ({:.1f} s) {}", trial, result.objective, result.seconds, result.params);
    if (result.objective > report.best_objective) {
      report.best_objective = result.objective;
      report.best_trial = report.trials.size();
      // Pin what the trial chose, so `funnel train` reproduces it without searching.
      RetrievalTrainOptions best = o;
      best.validate_only = false;
      best.ranking = base.ranking;
      best.time_budget_seconds = base.time_budget_seconds;
      best.trending_half_life_fractions = {t.choices.trending_fraction};
      best.ease_lambdas = {t.choices.ease_lambda};
      best.ials_alphas = {t.choices.ials_alpha};
      best.ials_regularizations = {t.choices.ials_regularization};
      best.rank_offsets = {t.fusion.rank_offset};
      report.best = best;
    }
    report.trials.push_back(std::move(result));
  }
  report.seconds = elapsed();
  return report;
}

}  // namespace funnel::training
