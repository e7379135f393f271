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
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/registry.h"
#include "funnel/core/status.h"
#include "funnel/retrieval/source.h"
#include "funnel/store/event_store.h"

namespace funnel::ranking {

// What re-ranking knows of each item, by the model's item index (codes: 0 means none).
class ItemFacts {
 public:
  explicit ItemFacts(uint32_t num_items = 0) : category_(num_items), creator_(num_items), unavailable_(num_items) {}
  // Every stored item's metadata for the first `num_items` indexes (a model's catalog).
  static StatusOr<ItemFacts> FromStore(const store::EventStore& store, uint32_t num_items);
  void Set(uint32_t item, std::string_view first_category, std::string_view creator, bool unavailable);
  uint32_t category(uint32_t item) const { return item < category_.size() ? category_[item] : 0; }
  uint32_t creator(uint32_t item) const { return item < creator_.size() ? creator_[item] : 0; }
  bool unavailable(uint32_t item) const { return item < unavailable_.size() && unavailable_[item] != 0; }
  size_t size() const { return category_.size(); }

 private:
  std::vector<uint32_t> category_, creator_;
  std::vector<uint8_t> unavailable_;
};

struct RerankOptions {
  std::vector<std::string> steps = {"filter", "caps"};
  size_t pool = 100;             // ranked candidates the steps choose from
  double mmr_lambda = 0.8;       // 1: relevance only
  size_t cap_window = 10;
  size_t max_per_creator = 3;    // 0: no cap
  size_t max_per_category = 0;   // 0: no cap
};

class RerankStep {
 public:
  virtual ~RerankStep() = default;
  virtual std::string_view name() const = 0;
  // Reorders or shortens `list` (best first); k is the request's list length.
  virtual void Apply(const ItemFacts& facts, size_t k, std::vector<retrieval::Candidate>* list) const = 0;
};

using RerankStepFactory = std::function<std::unique_ptr<RerankStep>(const RerankOptions&)>;
Registry<RerankStepFactory> BuiltinRerankSteps();

class Reranker {
 public:
  // An unknown step name fails, listing the known ones.
  static StatusOr<Reranker> Create(const RerankOptions& options);
  const RerankOptions& options() const { return options_; }
  bool empty() const { return steps_.empty(); }
  // Runs every step on `list` (at most options().pool long), then keeps its top k.
  void Apply(const ItemFacts& facts, size_t k, std::vector<retrieval::Candidate>* list) const;

 private:
  RerankOptions options_;
  std::vector<std::shared_ptr<const RerankStep>> steps_;
};

// Intra-list diversity of a list: the mean dissimilarity (1 − the similarity mmr uses) over
// its pairs; 0 for fewer than two items.
double IntraListDiversity(const ItemFacts& facts, std::span<const uint32_t> items);

}  // namespace funnel::ranking
