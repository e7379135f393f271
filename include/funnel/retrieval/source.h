// A retrieval source: one way of finding, out of the whole catalog, items worth ranking for a
// user (collaborative filtering, co-visitation, popularity, freshness). The merger (merger.h)
// asks every source for its top candidates, takes their union, then asks every source to score
// every candidate, so each candidate carries every source's opinion (the ranker's features).
//
//   UserState u = ...;                       // history, recent items, what to exclude
//   std::vector<Candidate> top;
//   source.Retrieve(u, {.k = 200, .now = t}, &top);            // best first
//   std::vector<float> s(items.size());
//   source.Score(u, items, t, s);            // any items, e.g. another source's candidates
//
// Sources are immutable after training and shared as std::shared_ptr<const Source>; a saved
// one is loaded back by name through a SourceRegistry (source_registry.h).
// Thread-safety: Retrieve and Score are const and safe to call concurrently.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"

namespace funnel::retrieval {

// What a source knows about the user at request time. Indexes are the model's dense item and
// user indexes (the event store's at training time).
struct UserState {
  uint32_t user = kUnknownUser;  // kUnknownUser for users the model never saw
  // The user's interactions as (item, strength), strength from event weights (interactions.h);
  // may include events newer than the model.
  std::vector<uint32_t> items;
  std::vector<float> strengths;
  // Positively engaged items, newest first (for co-visitation), at most a few dozen.
  std::vector<uint32_t> recent;
  // Items never to return (already consumed or disliked).
  absl::flat_hash_set<uint32_t> exclude;

  static constexpr uint32_t kUnknownUser = std::numeric_limits<uint32_t>::max();
  bool Excluded(uint32_t item) const { return exclude.contains(item); }
};

class CovisitSource;

struct Candidate {
  uint32_t item = 0;
  float score = 0;
};

struct RetrieveParams {
  size_t k = 100;
  Timestamp now;  // request time: decayed and age-based scores are taken as of it
};

class Source {
 public:
  virtual ~Source() = default;
  virtual std::string_view name() const = 0;
  // Up to k items, best first, none excluded for the user. Fewer when the source knows fewer
  // (a cold user has no collaborative candidates: an expected case, not an error).
  virtual void Retrieve(const UserState& user, const RetrieveParams& params,
                        std::vector<Candidate>* out) const = 0;
  // The source's score for each of `items` (same scale as Retrieve's); out.size() == items.size().
  // Items the source knows nothing about get its lowest score (often 0).
  virtual void Score(const UserState& user, std::span<const uint32_t> items, Timestamp now,
                     std::span<float> out) const = 0;
  // Writes the trained state under `dir` (blob files named after the source; docs/formats/model-bundle.md).
  virtual Status Save(const std::string& dir) const = 0;
  // The co-visitation source behind this interface, or nullptr. Folding events past a model's
  // cutoff needs its concrete counts; asking the source itself is checked by the compiler and
  // follows the source through renames and replacements (RetrievalModel::WithSource), where
  // matching its name and casting would trust a string. One query per capability a caller
  // needs, not one per source kind.
  virtual const CovisitSource* AsCovisit() const { return nullptr; }
};

// Keeps the k best (score, then lower item index) of a full score vector, skipping excluded
// items and items with score == -inf. The helper every full-scoring source shares.
void TopK(std::span<const float> scores, size_t k, const UserState& user, std::vector<Candidate>* out);

}  // namespace funnel::retrieval
