// `funnel tune`: a random search over each retrieval source's parameters (and the strength
// rule's, and the fusion's rank offset), scored on the same validation carve-outs `funnel train`
// uses, within a time budget; after a few random trials, every other one perturbs the best so far.
// The first trial is the shipped configuration (with its own small grids), so the result is never
// worse than the defaults on validation.
//
//   FUNNEL_ASSIGN_OR_RETURN(TuneReport r, TuneRetrieval(store, cfg.events, options, {.budget_seconds = 300}));
//   std::string toml = RetrievalOptionsToml(r.best);   // a [retrieval] table for funnel.toml
//
// Thread-safety: TuneRetrieval is reentrant (it reads the store only).
#pragma once

#include <string>
#include <vector>

#include "funnel/training/retrieval_options.h"  // RetrievalOptionsToml writes the result
#include "funnel/training/retrieval_trainer.h"

namespace funnel::training {

struct TuneOptions {
  double budget_seconds = 600;
  uint64_t seed = 1;
  int max_trials = 1000;
  Timestamp until = Timestamp::Max();  // tune on events before this
};

struct TuneTrial {
  std::string params;  // human-readable
  double objective = 0;  // validation 0.5·(NDCG@10 + Recall@20) of the fused list
  eval::MetricsSummary fused;
  double seconds = 0;
};

struct TuneReport {
  RetrievalTrainOptions best;  // every tuned parameter pinned to its best value
  double best_objective = -1;
  size_t best_trial = 0;
  std::vector<TuneTrial> trials;
  double seconds = 0;
};

StatusOr<TuneReport> TuneRetrieval(const store::EventStore& store, const EventsConfig& events,
                                   const RetrievalTrainOptions& base, const TuneOptions& options);

}  // namespace funnel::training
