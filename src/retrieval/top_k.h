// The k best (score, id) pairs of a stream, shared by the exact and the graph index so both
// order results the same way: higher score first, ties to the smaller id (deterministic).
// Thread-safety: none; one per search.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "funnel/retrieval/vector_index.h"

namespace funnel::retrieval {

inline bool Better(const Neighbor& a, const Neighbor& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k + 1); }

  size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() >= k_; }
  // The worst kept pair; only meaningful when size() > 0.
  const Neighbor& worst() const { return heap_.front(); }
  // Whether (id, score) would be kept: cheap enough to call before an expensive filter.
  bool Admits(uint32_t id, float score) const {
    return k_ > 0 && (!full() || Better({id, score}, heap_.front()));
  }

  void Push(uint32_t id, float score) {
    if (!Admits(id, score)) return;
    // With Better as "less", the heap's front is its worst element.
    heap_.push_back({id, score});
    std::push_heap(heap_.begin(), heap_.end(), kBetter);
    if (heap_.size() > k_) {
      std::pop_heap(heap_.begin(), heap_.end(), kBetter);
      heap_.pop_back();
    }
  }

  // The kept pairs, best first; leaves this empty.
  std::vector<Neighbor> TakeSorted() {
    std::sort_heap(heap_.begin(), heap_.end(), kBetter);
    return std::move(heap_);
  }

 private:
  // A function object, not the function: the heap algorithms then inline the comparison (a
  // function pointer is an indirect call per comparison).
  static constexpr auto kBetter = [](const Neighbor& a, const Neighbor& b) { return Better(a, b); };

  size_t k_;
  std::vector<Neighbor> heap_;
};

}  // namespace funnel::retrieval
