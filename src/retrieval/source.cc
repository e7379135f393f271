#include "funnel/retrieval/source.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "funnel/retrieval/cf_sources.h"
#include "funnel/retrieval/covisit.h"
#include "funnel/retrieval/fresh.h"
#include "funnel/retrieval/popularity.h"

namespace funnel::retrieval {

void TopK(std::span<const float> scores, size_t k, const UserState& user, std::vector<Candidate>* out) {
  out->clear();
  if (k == 0) return;
  // A min-heap of the best k so far: O(n log k), and no copy of the whole score vector.
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> heap(worse);
  for (uint32_t i = 0; i < scores.size(); ++i) {
    const float s = scores[i];
    if (std::isnan(s) || s == -std::numeric_limits<float>::infinity()) continue;
    if (heap.size() == k && !worse(Candidate{i, s}, heap.top())) continue;
    if (user.Excluded(i)) continue;
    heap.push({i, s});
    if (heap.size() > k) heap.pop();
  }
  out->resize(heap.size());
  for (size_t j = heap.size(); j-- > 0;) {
    (*out)[j] = heap.top();
    heap.pop();
  }
}

}  // namespace funnel::retrieval

namespace funnel::retrieval {

StatusOr<std::shared_ptr<const Source>> LoadSource(std::string_view name, const std::string& dir) {
  if (name == "popular" || name == "trending") {
    FUNNEL_ASSIGN_OR_RETURN(auto s, PopularitySource::Load(name, dir));
    return std::shared_ptr<const Source>(std::move(s));
  }
  if (name == "fresh") {
    FUNNEL_ASSIGN_OR_RETURN(auto s, FreshSource::Load(name, dir));
    return std::shared_ptr<const Source>(std::move(s));
  }
  if (name == "covisit") {
    FUNNEL_ASSIGN_OR_RETURN(auto s, CovisitSource::Load(name, dir));
    return std::shared_ptr<const Source>(std::move(s));
  }
  if (name == "ials") {
    FUNNEL_ASSIGN_OR_RETURN(auto s, IalsSource::Load(dir));
    return std::shared_ptr<const Source>(std::move(s));
  }
  if (name == "ease") {
    FUNNEL_ASSIGN_OR_RETURN(auto s, EaseSource::Load(dir));
    return std::shared_ptr<const Source>(std::move(s));
  }
  return absl::InvalidArgumentError(
      Cat("unknown retrieval source '", name, "'; known: popular, trending, fresh, covisit, ials, ease"));
}

}  // namespace funnel::retrieval
