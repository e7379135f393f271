// Re-ranking: the steps that turn the top of the ranker's order into a good list, run in the
// order `[rerank] steps` names them, each created by name from a registry:
//
//   filter    drops items whose attributes mark them unavailable ("available": false); items
//             the user consumed or disliked never reach here (retrieval excludes them)
//   mmr       maximal marginal relevance: picks greedily by λ·relevance − (1 − λ)·similarity
//             to what is already picked (same first category: 1, same creator: 1, both: 1);
//             relevance is the incoming score min-max scaled over the pool
//   caps      at most `max_per_creator` items of one creator and `max_per_category` of one
//             category in the top `cap_window`; the overflow moves below the window, in order
//   explore   gives `explore_share` of the k slots to items of the pool with fewer than
//             `explore_max_impressions` impressions, chosen by Thompson sampling on their like
//             rate (Beta(1 + likes, 1 + impressions − likes)), placed at evenly spaced slots;
//             deterministic for a request's seed (RerankContext), so replays and tests repeat
//
// A step sees the pool (the ranker's best `pool` candidates) and leaves it reordered or
// shortened; the request's top k is then taken. Every step is linear or O(pool · k).
//
//   FUNNEL_ASSIGN_OR_RETURN(Reranker r, Reranker::Create(options));
//   r.Apply(facts, k, &list);
//
// Thread-safety: a Reranker and ItemFacts are immutable after construction; Apply is safe
// concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/registry.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/retrieval/source.h"
#include "funnel/store/event_store.h"

namespace funnel::ranking {

// What re-ranking knows of each item, by the model's item index (codes: 0 means none).
class ItemFacts {
 public:
  explicit ItemFacts(uint32_t num_items = 0)
      : category_(num_items), creator_(num_items), unavailable_(num_items), impressions_(num_items), likes_(num_items) {}
  // Every stored item's metadata for the first `num_items` indexes (a model's catalog), and, when
  // `counts_until` is given, its "impression" and "like" events before that time (for explore;
  // a replay of the store, so only asked for when the steps include explore).
  static StatusOr<ItemFacts> FromStore(const store::EventStore& store, uint32_t num_items,
                                       std::optional<Timestamp> counts_until = std::nullopt);
  void SetCounts(uint32_t item, uint32_t impressions, uint32_t likes);
  uint32_t impressions(uint32_t item) const { return item < impressions_.size() ? impressions_[item] : 0; }
  uint32_t likes(uint32_t item) const { return item < likes_.size() ? likes_[item] : 0; }
  void Set(uint32_t item, std::string_view first_category, std::string_view creator, bool unavailable);
  uint32_t category(uint32_t item) const { return item < category_.size() ? category_[item] : 0; }
  uint32_t creator(uint32_t item) const { return item < creator_.size() ? creator_[item] : 0; }
  bool unavailable(uint32_t item) const { return item < unavailable_.size() && unavailable_[item] != 0; }
  size_t size() const { return category_.size(); }

 private:
  std::vector<uint32_t> category_, creator_;
  std::vector<uint8_t> unavailable_;
  std::vector<uint32_t> impressions_, likes_;
};

struct RerankOptions {
  std::vector<std::string> steps = {"filter", "caps"};
  size_t pool = 100;             // ranked candidates the steps choose from
  double mmr_lambda = 0.8;       // 1: relevance only
  size_t cap_window = 10;
  size_t max_per_creator = 3;    // 0: no cap
  size_t max_per_category = 0;   // 0: no cap
  double explore_share = 0.1;    // of the k slots, for explore
  uint32_t explore_max_impressions = 20;  // items with fewer impressions may take them
  uint64_t seed = 1;
};

// What a step may know of the request: the list length asked for and a seed that makes random
// choices repeatable (RequestSeed).
struct RerankContext {
  size_t k = 20;
  uint64_t seed = 0;
};

// A request's seed: the configured seed mixed with the user and the request time, so a replay
// of the same request makes the same choices and different requests different ones.
uint64_t RequestSeed(uint64_t seed, std::string_view user, Timestamp at);

class RerankStep {
 public:
  virtual ~RerankStep() = default;
  virtual std::string_view name() const = 0;
  // Reorders or shortens `list` (best first).
  virtual void Apply(const ItemFacts& facts, const RerankContext& request, std::vector<retrieval::Candidate>* list) const = 0;
};

using RerankStepFactory = std::function<std::unique_ptr<RerankStep>(const RerankOptions&)>;
Registry<RerankStepFactory> BuiltinRerankSteps();

class Reranker {
 public:
  // An unknown step name fails, listing the known ones.
  static StatusOr<Reranker> Create(const RerankOptions& options);
  const RerankOptions& options() const { return options_; }
  bool empty() const { return steps_.empty(); }
  bool Has(std::string_view step) const;
  // Runs every step on `list` (at most options().pool long), then keeps its top k.
  void Apply(const ItemFacts& facts, const RerankContext& request, std::vector<retrieval::Candidate>* list) const;

 private:
  RerankOptions options_;
  std::vector<std::shared_ptr<const RerankStep>> steps_;
};

// Intra-list diversity of a list: the mean dissimilarity (1 − the similarity mmr uses) over
// its pairs; 0 for fewer than two items.
double IntraListDiversity(const ItemFacts& facts, std::span<const uint32_t> items);

}  // namespace funnel::ranking
