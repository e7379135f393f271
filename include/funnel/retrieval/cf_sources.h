// The learned collaborative sources: iALS (matrix factorization; candidates by nearest
// neighbours of the user's vector among the item vectors) and EASE (an item x item model for
// catalogs small enough for a dense inverse).
//
// Both compute the user's side at request time from the UserState's (item, strength) pairs:
// iALS folds the user in against the fixed item factors (an exact solve), EASE sums the rows of
// B. A user who just liked three videos therefore gets new candidates at once, without
// retraining; a user with no history gets none (the popularity sources cover cold users).
//
// Thread-safety: immutable after Build/Load; Retrieve/Score are safe concurrently.
#pragma once

#include <memory>
#include <vector>

#include "funnel/retrieval/ease.h"
#include "funnel/retrieval/ials.h"
#include "funnel/retrieval/source.h"
#include "funnel/retrieval/training_set.h"
#include "funnel/retrieval/vector_index.h"

namespace funnel::retrieval {

class IalsSource final : public Source {
 public:
  static StatusOr<std::unique_ptr<IalsSource>> Build(const TrainingSet& ts, const IalsOptions& options,
                                                     const AnnOptions& ann);
  static StatusOr<std::unique_ptr<IalsSource>> Load(const std::string& dir);

  std::string_view name() const override { return "ials"; }
  void Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const override;
  void Score(const UserState& user, std::span<const uint32_t> items, Timestamp now,
             std::span<float> out) const override;
  Status Save(const std::string& dir) const override;

  const IalsModel& model() const { return model_; }
  const VectorIndex& index() const { return *index_; }
  // The user's vector at request time (fold-in of the state's pairs); empty for no usable history.
  // The calling thread's last fold-in is reused when the same state comes again (Retrieve, then
  // Score, of one request).
  std::vector<float> UserVector(const UserState& user) const;

 private:
  IalsSource(IalsModel model, IalsOptions options, std::unique_ptr<VectorIndex> index, int ef);
  IalsModel model_;  // user_factors are not kept (fold-in replaces them)
  IalsOptions options_;
  std::unique_ptr<VectorIndex> index_;
  int ef_;
  uint64_t id_;  // unique per instance in the process: the key of the per-thread fold-in memo
};

class EaseSource final : public Source {
 public:
  // Fails (FailedPrecondition) when the catalog exceeds options.max_items.
  static StatusOr<std::unique_ptr<EaseSource>> Build(const TrainingSet& ts, const EaseOptions& options);
  static StatusOr<std::unique_ptr<EaseSource>> Load(const std::string& dir);

  std::string_view name() const override { return "ease"; }
  void Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const override;
  void Score(const UserState& user, std::span<const uint32_t> items, Timestamp now,
             std::span<float> out) const override;
  Status Save(const std::string& dir) const override;

 private:
  EaseSource(EaseModel model, EaseOptions options, std::vector<uint32_t> items, uint32_t num_items);
  // Scores over every item of the store's index space (items outside the model get -inf).
  void ScoreAll(const UserState& user, std::vector<float>* scores) const;
  EaseModel model_;                 // over the catalog only (items seen before the cutoff)
  EaseOptions options_;
  std::vector<uint32_t> items_;     // model column -> item index
  std::vector<uint32_t> column_;    // item index -> model column, or UINT32_MAX
};

}  // namespace funnel::retrieval
