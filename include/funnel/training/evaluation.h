// The offline evaluation harness: the protocol of docs/protocol.md (eval/protocol.h) run against the
// whole retrieval stage. For each fold it trains exactly as `funnel train` would on the events
// before the fold's cutoff (tuning on a validation carve-out of that training part only), then
// scores, for every test user: each source alone (its own top 20), the merged candidates
// (Recall@100 and @500 of the fused ranking of the union), the fusion's top 20 (retrieval
// only), the ranker's order, and the final list (ranker and re-rank steps, as serving answers).
//
//   FUNNEL_ASSIGN_OR_RETURN(EvaluationReport r, RunEvaluation(store, cfg.events, {}, train_options));
//
// Thread-safety: RunEvaluation is reentrant (it reads the store only).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "funnel/eval/metrics.h"
#include "funnel/eval/protocol.h"
#include "funnel/training/retrieval_trainer.h"

namespace funnel::training {

struct FoldInfo {
  int fold = 0;
  Timestamp cutoff, end;
  uint64_t train_events = 0, window_events = 0;
  size_t catalog = 0, users = 0;
  double train_seconds = 0;
  std::vector<ValidationRow> validation;  // what tuning chose on this fold's carve-out
  std::string ranking_verdict;            // whether a ranker serves in this fold, and why
};

// How varied a row's top-10 lists are: sums over the lists (divide by `lists` for means).
struct ListDiversity {
  double ild10 = 0;         // intra-list diversity (ranking::IntraListDiversity)
  double categories10 = 0;  // distinct first categories
  double creators10 = 0;    // distinct creators
  size_t lists = 0;
  void Add(const ranking::ItemFacts& facts, std::span<const ItemIdx> top);
  double Mean(double ListDiversity::*sum) const { return lists ? this->*sum / static_cast<double>(lists) : 0; }
};

struct EvaluationReport {
  std::vector<FoldInfo> folds;
  // "popular", ..., "candidates", "fusion", "ranked", "final": the order to print. fusion is
  // retrieval alone, ranked the ranker's order (the fusion's where it won), final ranked plus
  // the re-rank steps: what serving answers.
  std::vector<std::string> rows;
  // Per row: the accumulated metrics over every (fold, user) pair.
  std::vector<eval::MetricsAccumulator> metrics;
  std::vector<ListDiversity> diversity;  // per row (empty sums for "candidates")
  double seconds = 0;
};

StatusOr<EvaluationReport> RunEvaluation(const store::EventStore& store, const EventsConfig& events,
                                         const eval::ProtocolOptions& protocol,
                                         const RetrievalTrainOptions& options);

}  // namespace funnel::training
