// Ranking metrics of the evaluation protocol, per user and aggregated per fold and overall
// (micro-averaged over (fold, user) pairs, with standard errors).
//
// Gains are binary (an item is in the truth or not). NDCG@k divides the DCG of the top k
// (1/log2(rank + 1) per hit, ranks from 1) by the ideal DCG of min(k, |truth|) hits, so a list
// that puts truth items first scores 1 even when |truth| > k. Recall@k divides the hits in the
// top k by min(k, |truth|). An item listed twice counts once, at its first rank. An empty truth
// scores 0 everywhere (the protocol never produces one).
//
//   MetricsAccumulator acc;
//   acc.Add(split.fold, ScoreList(top, user.truth), top);   // top: at least 20 items, best first
//   acc.SetCatalogSize(split.fold, split.catalog.size());
//   MetricsSummary overall = acc.Overall();
//
// Thread-safety: ScoreList is pure; a MetricsAccumulator is not safe for concurrent Add.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "funnel/core/ids.h"

namespace funnel::eval {

struct UserMetrics {
  double recall20 = 0;  // hits in the top 20 / min(20, |truth|)
  double ndcg10 = 0;
  double ndcg20 = 0;
  double hit10 = 0;     // 1 when the top 10 holds a truth item
  // Candidate recall of a longer list (retrieval stages): hits in the top 100 / 500 over
  // min(100 / 500, |truth|); 0 when the list is shorter it counts only what is there.
  double recall100 = 0;
  double recall500 = 0;
};

// `ranked` best first (any length; metrics read what they need); `truth` sorted and unique.
UserMetrics ScoreList(std::span<const ItemIdx> ranked, std::span<const ItemIdx> truth);

struct MetricValue {
  double mean = 0;
  double stderr_ = 0;  // standard error of the mean: sample stddev / sqrt(n); 0 when n < 2
};

struct MetricsSummary {
  size_t users = 0;  // (fold, user) pairs
  MetricValue recall20, ndcg10, ndcg20, hit10, recall100, recall500;
  // A fold: distinct items in its top-10 lists / its catalog size (0 without a catalog size).
  // Overall: the mean over the folds that have at least one (fold, user) pair.
  double coverage10 = 0;
};

class MetricsAccumulator {
 public:
  // top: the list shown to the user, best first; its first 10 count toward coverage.
  void Add(int fold, const UserMetrics& m, std::span<const ItemIdx> top);
  void SetCatalogSize(int fold, size_t items);
  // An unknown fold summarizes as zeros.
  MetricsSummary Fold(int fold) const;
  MetricsSummary Overall() const;
  std::vector<int> folds() const;  // ascending: every fold given to Add or SetCatalogSize
  // This list's `metric` minus `other`'s over the same (fold, user) pairs (both must have been
  // given the same users in the same order, as the evaluation does): the mean of the per-user
  // differences and its standard error. Paired, the error is far smaller than either list's own
  // (users who are easy for one list are easy for the other), which is what tells whether one
  // list beats another. nullopt when the folds' user counts differ.
  std::optional<MetricValue> PairedDifference(const MetricsAccumulator& other, double UserMetrics::*metric) const;

 private:
  struct PerFold {
    std::vector<UserMetrics> users;
    absl::flat_hash_set<uint32_t> top10;
    size_t catalog = 0;
  };
  std::map<int, PerFold> folds_;
};

}  // namespace funnel::eval
