// A trained ranker as serving uses it: a model over the candidate rows of candidate_features.h
// that rescores the top `depth` fused candidates of a request. Kinds, by the name `[ranking]
// rankers` lists them: "logistic" (logistic regression, the explainable floor), "gbdt" (boosted
// trees, binary:logistic), "lambdamart" (boosted trees, rank:ndcg grouped by request). Trees are
// scored by the own evaluator (tree_ensemble.h), logistic regression by its own model.
//
//   FUNNEL_ASSIGN_OR_RETURN(auto ranker, CandidateRanker::Load(dir + "/ranker.blob"));
//   std::vector<Candidate> top = RankCandidates(c, user, merger, ranker.get(), k);
//
// The file is a blob (core/blob_file.h, kind "ranker"); docs/formats/ranking-models.md has its
// sections. Thread-safety: immutable after construction; Score is safe concurrently.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/ranking/candidate_features.h"
#include "funnel/ranking/logistic_regression.h"
#include "funnel/ranking/tree_ensemble.h"

namespace funnel::ranking {

class CandidateRanker {
 public:
  // `model` is XGBoost's JSON for the tree kinds, LogisticRegression::Save's bytes for
  // "logistic". `features` are the names the rows were computed with (CandidateFeatureNames).
  static StatusOr<std::shared_ptr<const CandidateRanker>> Create(std::string kind, std::string model,
                                                                 std::vector<std::string> features, size_t depth);
  static StatusOr<std::shared_ptr<const CandidateRanker>> Load(const std::string& path);
  Status Save(const std::string& path) const;

  const std::string& kind() const { return kind_; }
  const std::vector<std::string>& features() const { return features_; }
  size_t depth() const { return depth_; }  // how many fused candidates it rescores

  // One score per row (the model's margin: higher ranks first).
  Status Score(DenseMatrixView rows, std::span<float> out) const;

 private:
  CandidateRanker() = default;
  std::string kind_, model_;
  std::vector<std::string> features_;
  size_t depth_ = 0;
  std::optional<TreeEnsemble> trees_;
  std::optional<LogisticRegression> linear_;
};

// Names of the ranker kinds, for config validation and messages.
std::vector<std::string> RankerKinds();

// The k best candidates of `c`: the fused order, with its top `ranker->depth()` reordered by
// the ranker's scores (ties keep the fused order), then the rest in fused order; the fused order
// alone when `ranker` is null. Scores are the ranker's for rescored items and, below them,
// decreasing values for the rest, so a list is always ordered by its scores.
// `rows` is scratch (and, after the call, holds the rescored rows for explanations).
// `store` supplies the feature store's columns the ranker was trained with (their names must
// be the ranker's after the retrieval ones: an error otherwise, not a wrong score).
StatusOr<std::vector<retrieval::Candidate>> RankCandidates(const retrieval::CandidateSet& c,
                                                           const retrieval::UserState& user,
                                                           const retrieval::Merger& merger,
                                                           const CandidateRanker* ranker, size_t k,
                                                           CandidateRows* rows,
                                                           const CandidateFeatureSource* store = nullptr);

// Whether `ranker`'s features are `merger`'s retrieval features followed by `store`'s (none when
// null): FailedPrecondition naming the difference otherwise.
Status CheckRankerFeatures(const CandidateRanker& ranker, const retrieval::Merger& merger,
                           const CandidateFeatureSource* store);
// The feature-store names (without the "store." prefix) a ranker reads after its retrieval ones.
std::vector<std::string> StoreFeaturesOf(const CandidateRanker& ranker);

}  // namespace funnel::ranking
