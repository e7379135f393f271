// Training the retrieval stage: build the training set up to a cutoff, fit every source, and
// choose what needs choosing (the trending horizon, regularization, fusion weights) on a
// validation carve-out from the end of the training part: never on a test window. Then refit
// every source on the whole training part with the choices made.
//
// Defaults matter: most users run `funnel train` with the shipped config and never tune, so
// the choices are made from the data itself, in bounded time (`time_budget_seconds`).
//
//   FUNNEL_ASSIGN_OR_RETURN(TrainedRetrieval r, TrainRetrieval(store, cfg.events, cutoff, {}));
//   retrieval::Merger merger(r.slots);
//
// Thread-safety: TrainRetrieval is reentrant (it reads the store only).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/registry.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/eval/metrics.h"
#include "funnel/eval/protocol.h"
#include "funnel/model/model_registry.h"
#include "funnel/retrieval/cf_sources.h"
#include "funnel/retrieval/covisit.h"
#include "funnel/retrieval/fresh.h"
#include "funnel/retrieval/merger.h"
#include "funnel/retrieval/popularity.h"
#include "funnel/retrieval/training_set.h"
#include "funnel/store/event_store.h"
#include "funnel/features/feature_spec.h"
#include "funnel/ranking/rerank.h"
#include "funnel/training/ranker_trainer.h"

namespace funnel::training {

using model::ValidationRow;

// The parameters tuning chooses (the defaults apply when it cannot run).
struct RetrievalChoices {
  double trending_fraction = 0.01;   // trending half-life, as a fraction of the training period
  double ease_lambda = 300;
  double ials_regularization = 32;
  double ials_alpha = 8;
};

struct RetrievalTrainOptions {
  // The sources to train, by name (popular, trending, fresh, covisit, ials, ease).
  std::vector<std::string> sources = {"popular", "trending", "fresh", "covisit", "ials", "ease"};
  retrieval::TrainingSetOptions data;
  // Recent popularity: decayed counts with a half-life chosen on validation among these
  // fractions of the training period's length ("what is popular now").
  std::vector<double> trending_half_life_fractions = {0.002, 0.005, 0.01, 0.02, 0.04, 0.08};
  retrieval::FreshOptions fresh;
  retrieval::CovisitOptions covisit;
  retrieval::IalsOptions ials;
  // Tried on validation (regularizations x alphas), each 4x the previous. The regularization
  // is unscaled, so its best value grows with the data: on MovieLens 100K (50-90k ratings) it
  // is 32-128, and a grid topping out at 8 left iALS under most-popular there.
  std::vector<double> ials_regularizations = {8, 32, 128};
  std::vector<double> ials_alphas = {2, 8, 32};
  retrieval::EaseOptions ease = {.lambda = 300, .max_items = 12000};
  std::vector<double> ease_lambdas = {100, 400, 1600};  // tried on validation
  retrieval::AnnOptions ann;
  // Candidates each source contributes, and the cap on the union.
  std::map<std::string, size_t, std::less<>> quotas = {
      {"popular", 100}, {"trending", 200}, {"fresh", 50}, {"covisit", 200}, {"ials", 200}, {"ease", 200}};
  size_t max_candidates = 1000;
  // How fusion weights are chosen on validation: "logistic" (a regression over every candidate)
  // or "search" (coordinate ascent on NDCG@10 + Recall@20).
  std::string fusion = "search";
  double fusion_l2 = 1.0;
  // "rank": reciprocal ranks (offset tuned among rank_offsets; rank_offset when not tuned);
  // "score": the sources' raw scores, standardized.
  std::string fusion_normalization = "rank";
  std::vector<double> rank_offsets = {25, 50, 100};
  double rank_offset = 50;
  double validation_fraction = 0.1;
  int validation_windows = 3;   // carve-outs, each `validation_fraction` of the training events
  // iALS and EASE are tuned on the newest carve-outs holding at least this many users (all of
  // them when fewer): a few dozen users cannot tell their parameters apart, and refitting on
  // every window costs a fit per window and grid point.
  size_t min_model_tuning_users = 500;
  // Fewer validation users than this and nothing is tuned (the shipped defaults are kept, and
  // TrainedRetrieval::untuned says why): NDCG@10's standard error over n users is about
  // 0.3/sqrt(n), 0.04 at 50, larger than the gaps between the settings tuning chooses among, so
  // a handful of users would pick settings by noise.
  size_t min_validation_users = 50;
  size_t max_validation_users = 3000;  // over all windows; a deterministic sample beyond
  bool tune = true;             // false: shipped defaults, no validation split
  double time_budget_seconds = 600;
  bool validate_only = false;   // stop after validation (no final fit): for `funnel tune`
  int threads = 0;              // 0: every core
  // The ranking stage, trained on the validation carve-outs' candidates ([ranking]).
  RankerTrainOptions ranking;
  // The re-rank steps after the ranker ([rerank]): not trained, but read here so evaluation
  // runs the steps serving runs.
  ranking::RerankOptions rerank;
  // The feature definitions whose values the ranker reads beside retrieval's (the config's
  // [[features]], or the shipped set); empty: the ranker reads retrieval's features only. Not a
  // [retrieval] key: commands fill it from the config.
  std::vector<features::FeatureSpec> store_features;
};

// The fitted sources and the choices requests must repeat (what the registry writes), plus
// the parameters tuning chose.
struct TrainedRetrieval : model::BundleContents {
  RetrievalChoices choices;
  std::string untuned;  // why tuning was skipped although asked for; empty when it ran
};

// How one source kind is fitted on a training set, given the choices tuning made and the run's
// options (each kind reads its own table of them).
using SourceFit = std::function<StatusOr<std::shared_ptr<const retrieval::Source>>(
    const retrieval::TrainingSet&, const RetrievalChoices&, const RetrievalTrainOptions&)>;
using SourceFits = Registry<SourceFit>;

// The fit of every built-in source, by the names retrieval::AddBuiltinSources loads them by, in
// the same order: what one registry saves, the other must read back (a test holds them equal).
SourceFits BuiltinSourceFits();

// The names `[retrieval] sources` may use (BuiltinSourceFits's), for validation and messages.
std::vector<std::string> KnownSources();

// Fits on the events before `cutoff`; Timestamp::Max() ("everything") means just past the newest
// stored event, which is the cutoff the result and its manifest carry.
StatusOr<TrainedRetrieval> TrainRetrieval(const store::EventStore& store, const EventsConfig& events,
                                          Timestamp cutoff, const RetrievalTrainOptions& options);

// Request-time states of a split's test users (every event before the split's cutoff).
StatusOr<std::vector<retrieval::UserState>> SplitUserStates(const store::EventStore& store,
                                                            const EventsConfig& events,
                                                            const retrieval::TrainingSetOptions& data,
                                                            const eval::Split& split);

}  // namespace funnel::training
