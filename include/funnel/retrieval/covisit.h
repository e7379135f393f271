// Co-visitation: items engaged with close together in time by the same user are related
// ("people who watched this next watched that"). Candidates come from the user's most recent
// positive items, so a like changes the very next request's candidates without retraining.
//
// Pair weight: for each user's positives in time order, every earlier item at most `max_gap`
// positions and `window_hours` back pairs with the current one, weighted 2^(-Δt / decay_hours)
// and, with a pair half-life, by the pair's age (older sessions count less: tastes drift);
// pairs count both ways. c(a, b) sums them. Scores are normalized by popularity,
// s(a, b) = c(a, b) / (n_a^½ · n_b^β) with n the items' positive counts and β =
// `popularity_exponent` (½ is cosine-like; a smaller β leaves popular neighbours a little of
// their popularity, which helps on data that drifts), and each item keeps its `neighbors` best.
// A user's score for item b: Σ_r recency^r · s(recent_r, b).
//
// The counts are a fold over positives in time order (CovisitCounts): training folds the
// training events; `WithUpdates` folds events that arrived after training into a copy of a
// trained source, so new pairs and new items get neighbours without retraining.
//
//   auto covisit = CovisitSource::Build(training_set, CovisitOptions{});
//   CovisitCounts later(covisit->options(), covisit->reference_us());
//   later.Add(user, item, ts_us);  ...
//   auto updated = covisit->WithUpdates(later);
//
// Thread-safety: CovisitSource is immutable after Build; Retrieve/Score are safe concurrently.
// CovisitCounts is not thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "funnel/core/blob_file.h"
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
  double pair_half_life_days = 60;  // a pair's weight halves with every this much age; 0: no aging
  double popularity_exponent = 0.2;  // β above
};

// The incremental fold behind co-visitation: positive engagements in time order in, pair
// weights and item counts out. Pair weights carry the age factor 2^((t - reference) / half-life)
// (t the newer engagement's time): one time axis for every pair, so aging them all to a later
// moment is one common factor, which the normalized scores do not see.
class CovisitCounts {
 public:
  CovisitCounts(const CovisitOptions& options, int64_t reference_us);
  int64_t reference_us() const { return reference_us_; }

  // One positive engagement; each user's must come in time order.
  void Add(uint32_t user, uint32_t item, int64_t ts_us);
  // An engagement from before these counts began: it pairs with the user's next ones, but is
  // not counted itself (the trained counts already hold it).
  void Seed(uint32_t user, uint32_t item, int64_t ts_us);
  bool KnowsUser(uint32_t user) const { return users_.contains(user); }

  uint32_t num_items() const { return static_cast<uint32_t>(item_counts_.size()); }
  uint64_t events() const { return events_; }
  double ItemCount(uint32_t item) const { return item < item_counts_.size() ? item_counts_[item] : 0.0; }
  // Pair weights of `item` (nullptr when it has none).
  const absl::flat_hash_map<uint32_t, float>* Pairs(uint32_t item) const;

  // The whole fold state (pairs, counts, each user's last engagements) as blob sections under
  // `prefix`, and back: a fold continued after Read gives what the uninterrupted fold gives.
  void Write(BlobWriter& w, const std::string& prefix) const;
  static StatusOr<CovisitCounts> Read(const BlobReader& r, const std::string& prefix, const CovisitOptions& options,
                                      int64_t reference_us);

 private:
  struct Engagement {
    uint32_t item;
    int64_t ts_us;
  };
  void Grow(uint32_t item);
  void Remember(std::vector<Engagement>& recent, uint32_t item, int64_t ts_us) const;

  CovisitOptions options_;
  int64_t reference_us_;
  uint64_t events_ = 0;
  absl::flat_hash_map<uint32_t, std::vector<Engagement>> users_;  // each user's last max_gap, oldest first
  std::vector<double> item_counts_;
  std::vector<absl::flat_hash_map<uint32_t, float>> pairs_;
};

class CovisitSource final : public Source {
 public:
  static std::unique_ptr<CovisitSource> Build(const TrainingSet& ts, const CovisitOptions& options);
  // From neighbour lists (model bundles): offsets has items + 1 entries; `counts` holds each
  // kept pair's weight c(a, b), item_counts each item's n (empty: every n = 1, the bundles of
  // before item counts were saved, whose `counts` are already normalized scores).
  static std::unique_ptr<CovisitSource> FromLists(std::vector<uint64_t> offsets, std::vector<uint32_t> neighbors,
                                                  std::vector<float> counts, std::vector<float> item_counts,
                                                  const CovisitOptions& options, int64_t reference_us);

  // A copy with `later` folded in (its reference must be this source's): pair weights and
  // item counts add up, pairs new to a list join it, items beyond the trained catalog get lists.
  // A source loaded from a bundle without item counts cannot take updates: an unchanged copy.
  std::unique_ptr<CovisitSource> WithUpdates(const CovisitCounts& later) const;
  bool updatable() const { return !legacy_; }

  std::string_view name() const override { return "covisit"; }
  void Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const override;
  void Score(const UserState& user, std::span<const uint32_t> items, Timestamp now,
             std::span<float> out) const override;
  Status Save(const std::string& dir) const override;
  const CovisitSource* AsCovisit() const override { return this; }
  static StatusOr<std::unique_ptr<CovisitSource>> Load(std::string_view name, const std::string& dir);

  // Neighbours of an item, sorted by item index (for lookups), and their pair weights c(a, b).
  std::span<const uint32_t> Neighbors(uint32_t item) const;
  std::span<const float> NeighborCounts(uint32_t item) const;
  // s(a, b) as defined above (0 when b is not among a's kept neighbours).
  float PairScore(uint32_t a, uint32_t b) const;
  uint32_t num_items() const { return static_cast<uint32_t>(offsets_.size() - 1); }
  const std::vector<uint64_t>& offsets() const { return offsets_; }
  const std::vector<uint32_t>& neighbor_ids() const { return neighbors_; }
  const std::vector<float>& neighbor_counts() const { return counts_; }
  const std::vector<float>& item_counts() const { return item_counts_; }
  const CovisitOptions& options() const { return options_; }
  int64_t reference_us() const { return reference_us_; }

  // A request's score sums, dense by item, kept per thread (covisit.cc); not for callers.
  struct DenseSums;

 private:
  CovisitSource(std::vector<uint64_t> offsets, std::vector<uint32_t> neighbors, std::vector<float> counts,
                std::vector<float> item_counts, const CovisitOptions& options, int64_t reference_us);
  void AddSeedSums(const UserState& user, DenseSums& d) const;
  float SeedNorm(uint32_t a) const { return a < seed_norm_.size() ? seed_norm_[a] : 0.0f; }
  float CandidateNorm(uint32_t b) const { return b < candidate_norm_.size() ? candidate_norm_[b] : 0.0f; }

  std::vector<uint64_t> offsets_;
  std::vector<uint32_t> neighbors_;
  std::vector<float> counts_;
  std::vector<float> item_counts_;
  CovisitOptions options_;
  int64_t reference_us_ = 0;
  bool legacy_ = false;  // counts_ are normalized scores (a bundle without item counts)
  std::vector<float> seed_norm_, candidate_norm_;  // n^-½ and n^-β per item (0 when n = 0)
};

}  // namespace funnel::retrieval
