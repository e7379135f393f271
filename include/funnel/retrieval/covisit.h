// Co-visitation: items engaged with close together in time by the same user are related
// ("people who watched this next watched that"). Candidates come from the user's most recent
// positive items, so a like changes the very next request's candidates without retraining.
//
// Pair weight: for each user's positives in time order, every earlier item at most
// `max_gap` positions and `window_hours` back pairs with the current one, weighted
// 2^(-Δt / decay_hours); pairs count both ways. Scores are normalized by popularity,
// s(a, b) = c(a, b) / sqrt(n_a · n_b), so a blockbuster is not everyone's neighbour, and each
// item keeps its `neighbors` best. A user's score for item b: Σ_r recency^r · s(recent_r, b).
//
//   auto covisit = CovisitSource::Build(training_set, CovisitOptions{});
//
// Thread-safety: immutable after Build; Retrieve/Score are safe concurrently.
#pragma once

#include <memory>
#include <vector>

#include "funnel/retrieval/source.h"
#include "funnel/retrieval/training_set.h"

namespace funnel::retrieval {

struct CovisitOptions {
  double window_hours = 24 * 7;
  double decay_hours = 24;
  int max_gap = 10;           // positions back in the user's sequence
  int neighbors = 100;        // kept per item
  double recency = 0.85;      // weight of the r-th most recent item: recency^r
  int recent_items = 20;      // how many of the user's recent items seed candidates
};

class CovisitSource final : public Source {
 public:
  static std::unique_ptr<CovisitSource> Build(const TrainingSet& ts, const CovisitOptions& options);
  // From saved neighbour lists (model bundles): offsets has items + 1 entries.
  static std::unique_ptr<CovisitSource> FromLists(std::vector<uint64_t> offsets, std::vector<uint32_t> neighbors,
                                                  std::vector<float> scores, const CovisitOptions& options);

  std::string_view name() const override { return "covisit"; }
  void Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const override;
  void Score(const UserState& user, std::span<const uint32_t> items, Timestamp now,
             std::span<float> out) const override;
  Status Save(const std::string& dir) const override;
  static StatusOr<std::unique_ptr<CovisitSource>> Load(std::string_view name, const std::string& dir);

  // Neighbours of an item, sorted by item index (for lookups).
  std::span<const uint32_t> Neighbors(uint32_t item) const;
  std::span<const float> NeighborScores(uint32_t item) const;
  const std::vector<uint64_t>& offsets() const { return offsets_; }
  const std::vector<uint32_t>& neighbor_ids() const { return neighbors_; }
  const std::vector<float>& neighbor_scores() const { return scores_; }
  const CovisitOptions& options() const { return options_; }

 private:
  CovisitSource(std::vector<uint64_t> offsets, std::vector<uint32_t> neighbors, std::vector<float> scores,
                const CovisitOptions& options)
      : offsets_(std::move(offsets)), neighbors_(std::move(neighbors)), scores_(std::move(scores)), options_(options) {}
  float Pair(uint32_t a, uint32_t b) const;
  std::vector<uint64_t> offsets_;
  std::vector<uint32_t> neighbors_;
  std::vector<float> scores_;
  CovisitOptions options_;
};

}  // namespace funnel::retrieval
