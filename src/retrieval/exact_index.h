// Brute-force inner-product search: the oracle for the graph index and the index used for
// small catalogs. Single queries scan a half-precision copy and rescore the few rows that can
// still make the top k in float, with exactly ExactSearchOne's result (exact_index.cc). Thread-safety: immutable after construction; Search is safe concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "funnel/retrieval/vector_index.h"

namespace funnel::retrieval {

// The best min(k, allowed) items for one query by a full scan of `vectors` (num x dim,
// row-major), best first. Shared with the graph index, which falls back to it when ef covers
// the whole catalog.
std::vector<Neighbor> ExactSearchOne(std::span<const float> vectors, uint32_t num, int dim,
                                     const float* query, size_t k,
                                     const std::function<bool(uint32_t)>& filter);

class ExactIndex final : public VectorIndex {
 public:
  ExactIndex(std::vector<float> vectors, uint32_t num, int dim);

  uint32_t size() const override { return num_; }
  int dim() const override { return dim_; }
  bool exact() const override { return true; }
  void Search(std::span<const float> queries, size_t n, const SearchParams& params,
              std::vector<std::vector<Neighbor>>* out) const override;
  Status Save(const std::string& path) const override;

  std::span<const float> vectors() const { return vectors_; }
  // Whether single queries scan a half-precision copy first (exact_index.cc; same results).
  bool scans_halves() const { return !halves_.empty(); }

 private:
  std::vector<Neighbor> SearchHalf(const float* query, size_t k, const std::function<bool(uint32_t)>& filter) const;

  std::vector<float> vectors_;
  // The half copy, rows in decreasing norm (empty: scan floats only): row p is vectors_ row
  // order_[p] rounded to IEEE half, norms_[p] its norm rounded up.
  std::vector<uint16_t> halves_;
  std::vector<uint32_t> order_;
  std::vector<float> norms_;
  uint32_t num_;
  int dim_;
};

}  // namespace funnel::retrieval
