// The ranker's view of one request's candidates: a dense row per candidate, computed from what
// the retrieval stage already knows about it (every source's score of it, where each source
// ranks it, which sources found it, the fused score) and about the user (how much history).
// One function computes the rows for training (validation candidate sets, training/) and for
// serving (the request pipeline), so the two cannot drift apart (docs/ranking.md lists each
// feature and why it is there).
//
//   std::vector<std::string> names = CandidateFeatureNames(merger.SourceNames());
//   CandidateRows rows;
//   ComputeCandidateRows(c, user, merger, /*depth=*/200, &rows);
//   // rows.values is rows.candidate.size() x names.size(), row-major
//
// Scores are standardized within the request (mean 0, sd 1 over its candidates) and ranks are
// log(1 + rank): a source's scale changes with every refit (an iALS dot product, a popularity
// count that grows with the log), its order among one request's candidates does not, so the
// ranker trained on validation refits transfers to the final one. A score a source cannot give
// (minus infinity, NaN) is missing (NaN): trees route it, logistic regression has an indicator.
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "funnel/retrieval/merger.h"
#include "funnel/retrieval/source.h"

namespace funnel::ranking {

// Per-candidate features from outside retrieval (the feature store's, features/feature_fold.h),
// bound to one request's user and time; appended to the rows after the retrieval features,
// under their own names prefixed "store.".
class CandidateFeatureSource {
 public:
  virtual ~CandidateFeatureSource() = default;
  virtual const std::vector<std::string>& names() const = 0;
  // The feature row of `item` (a model item index; unknown ones get the no-state values).
  virtual void Compute(uint32_t item, std::span<float> out) const = 0;
};

struct CandidateRows {
  // The fused order of every candidate, best first (Merger::Fuse over the whole set).
  std::vector<retrieval::Candidate> fused;
  // Candidate indexes (into CandidateSet::items) of the rows, in fused order: the top `depth`.
  std::vector<uint32_t> candidate;
  std::vector<float> values;  // candidate.size() x cols, row-major
  size_t cols = 0;
};

// Feature names for a merger with these sources, in the order rows hold them, then the
// feature store's (`store`, each prefixed "store.").
std::vector<std::string> CandidateFeatureNames(std::span<const std::string> sources,
                                               std::span<const std::string> store = {});

// How many columns the rows have: 3 per source, 5 global, then `store`'s.
size_t CandidateFeatureCount(size_t sources, const CandidateFeatureSource* store);

// Rows of the `depth` best fused candidates of `c` (all when fewer), as `merger` (its sources'
// order, fusion and weights) sees them, with `store`'s columns appended when given.
void ComputeCandidateRows(const retrieval::CandidateSet& c, const retrieval::UserState& user,
                          const retrieval::Merger& merger, size_t depth, CandidateRows* out,
                          const CandidateFeatureSource* store = nullptr);

}  // namespace funnel::ranking
