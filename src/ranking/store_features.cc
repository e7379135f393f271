#include "funnel/ranking/store_features.h"

namespace funnel::ranking {

StatusOr<std::unique_ptr<FoldAtTime>> FoldAtTime::Create(std::vector<features::FeatureSpec> specs,
                                                         const store::EventStore* store) {
  std::unique_ptr<FoldAtTime> out(new FoldAtTime());
  out->specs_ = std::move(specs);
  out->store_ = store;
  FUNNEL_ASSIGN_OR_RETURN(out->fold_, features::FeatureFold::Create(out->specs_, store));
  return out;
}

Status FoldAtTime::AdvanceTo(Timestamp at) {
  if (at < at_) {
    FUNNEL_ASSIGN_OR_RETURN(fold_, features::FeatureFold::Create(specs_, store_));
    at_ = Timestamp::Min();
  }
  if (at == at_) return absl::OkStatus();
  FUNNEL_RETURN_IF_ERROR(store_->Replay(at_, at, [&](const store::StoredEvent& e) {
    fold_->Apply(e);
    return true;
  }));
  at_ = at;
  return absl::OkStatus();
}

}  // namespace funnel::ranking
