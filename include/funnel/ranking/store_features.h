// The feature store's values as ranker columns: the one feature fold (features/feature_fold.h)
// that computes online features and training datasets also computes the ranker's user, item and
// user × item features (affinities, recency, counts at several horizons, rates, item age,
// categorical codes), so training rows and serving rows cannot disagree.
//
//   FUNNEL_ASSIGN_OR_RETURN(auto at_time, FoldAtTime::Create(specs, &store));
//   FUNNEL_RETURN_IF_ERROR(at_time->AdvanceTo(request_time));   // events before it, folded
//   FoldFeatures features(at_time->fold(), user.user, request_time);
//   RankCandidates(c, user, merger, ranker, k, &rows, &features);
//
// Thread-safety: FoldFeatures is a view (safe concurrently with other readers of the fold);
// FoldAtTime::AdvanceTo needs exclusive access.
#pragma once

#include <memory>
#include <vector>

#include "funnel/core/time.h"
#include "funnel/features/feature_fold.h"
#include "funnel/ranking/candidate_features.h"

namespace funnel::ranking {

class FoldFeatures final : public CandidateFeatureSource {
 public:
  // `user`: the request's user index (retrieval::UserState::kUnknownUser for an unknown user).
  FoldFeatures(const features::FeatureFold& fold, uint32_t user, Timestamp at) : fold_(fold), user_(user), at_(at) {}
  const std::vector<std::string>& names() const override { return fold_.names(); }
  void Compute(uint32_t item, std::span<float> out) const override {
    fold_.Compute(UserIdx{user_}, ItemIdx{item}, at_, out);
  }

 private:
  const features::FeatureFold& fold_;
  uint32_t user_;
  Timestamp at_;
};

// A fold of every event before a point in time, moved forward by replaying what lies between
// (a move back in time rebuilds it from the start: a fold cannot forget).
class FoldAtTime {
 public:
  static StatusOr<std::unique_ptr<FoldAtTime>> Create(std::vector<features::FeatureSpec> specs,
                                                      const store::EventStore* store);
  Status AdvanceTo(Timestamp at);
  const features::FeatureFold& fold() const { return *fold_; }
  Timestamp at() const { return at_; }

 private:
  FoldAtTime() = default;
  std::vector<features::FeatureSpec> specs_;
  const store::EventStore* store_ = nullptr;
  std::unique_ptr<features::FeatureFold> fold_;
  Timestamp at_ = Timestamp::Min();
};

}  // namespace funnel::ranking
