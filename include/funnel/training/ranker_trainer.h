// Training the ranking stage on the retrieval stage's own candidates. The validation carve-outs
// of retrieval training (retrieval_trainer.h) already hold, per window, sources fitted only on
// the events before the window and the candidate sets they give each of the window's users, with
// what each user engaged with next in the window: exactly the rows a ranker must learn from (it
// sees at serving what retrieval hands it, scored by models that never saw the labels).
//
// The split, cross-fitted over the windows: each window's users are judged by a ranker of each
// kind learned on the other windows (trees stop early on the held-out window), against the tuned
// fusion on the same users; the scores are pooled over every window. Judging on the newest window
// alone was tried first: on ml-100k it holds 34-67 users, too few to tell the kinds apart, and the
// per-fold choice was mostly noise (bench/RESULTS.md, #11). Features never leak across windows
// (each window's rows are computed as of its own start); only the model of an older window's
// judge has seen later windows' labels, as in any k-fold selection. The best kind that beats the
// fusion is refitted on every window (trees with the mean round count early stopping chose) and
// ships; when none beats it, the fusion stays and the verdict says so. Either way, each kind's
// pooled validation numbers are kept for `funnel train` and the manifest.
//
//   FUNNEL_ASSIGN_OR_RETURN(TrainedRanker r, TrainRanker(examples, options, threads));
//   if (r.ranker) ...  // else the fusion won
//
// Thread-safety: reentrant.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/model/model_registry.h"
#include "funnel/ranking/candidate_ranker.h"
#include "funnel/retrieval/merger.h"

namespace funnel::training {

struct RankerTrainOptions {
  // Kinds tried (ranking::RankerKinds); empty: no ranker, the fusion serves.
  std::vector<std::string> rankers = {"logistic", "gbdt"};
  size_t depth = 200;        // fused candidates a ranker rescores
  int trees = 300;           // boosting rounds at most (early stopping on the held-out window)
  int max_depth = 6;
  double eta = 0.05;
  double min_child_weight = 1;
  double subsample = 0.8;
  int early_stopping_rounds = 30;
  // A ranker must beat the fusion's validation objective (mean of NDCG@10 and Recall@20) by at
  // least this much to replace it.
  double min_improvement = 0;
};

// One validation user: the candidates the window's sources gave them, what they engaged with
// next, and the window's merger (its sources, the tuned fusion). Window 0 is the newest.
struct RankerExample {
  const retrieval::CandidateSet* candidates = nullptr;
  const retrieval::UserState* user = nullptr;
  const std::vector<ItemIdx>* truth = nullptr;
  const retrieval::Merger* merger = nullptr;
  int window = 0;
  // The feature store's columns for this user as of the window's start; null: none. Every
  // example must have them or none.
  const ranking::CandidateFeatureSource* store = nullptr;
};

struct TrainedRanker {
  std::shared_ptr<const ranking::CandidateRanker> ranker;  // null: the fusion stays
  std::vector<model::ValidationRow> validation;  // pooled over the windows: the fusion, then each kind
  std::string verdict;  // one line: which won and by how much, or why no ranker was trained
};

StatusOr<TrainedRanker> TrainRanker(std::span<const RankerExample> examples, const RankerTrainOptions& options,
                                    int threads);

}  // namespace funnel::training
