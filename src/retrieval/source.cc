#include "funnel/retrieval/source.h"

#include <algorithm>
#include <cmath>
#include <queue>

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
