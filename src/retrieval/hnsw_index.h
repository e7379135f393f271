// The graph (HNSW) inner-product index. hnswlib builds the graph; the index then keeps its own
// copy of the graph, which it searches and serializes itself (see hnsw_index.cc for why).
// Thread-safety: immutable after construction; Search is safe concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/retrieval/vector_index.h"

namespace funnel::retrieval {

// An HNSW graph over ids 0..num-1 (ids are item ids: the vectors' row numbers).
struct HnswGraph {
  uint32_t max_m = 0;      // link capacity of a node on levels >= 1 (hnswlib maxM_)
  uint32_t max_m0 = 0;     // link capacity on level 0 (hnswlib maxM0_ = 2M)
  uint32_t entry = 0;      // entry node, on the top level
  uint32_t max_level = 0;  // top level
  // Level 0: num blocks of (1 + max_m0) u32: the link count, then the links.
  std::vector<uint32_t> links0;
  // Levels >= 1: node i's levels 1..L(i) are L(i) consecutive blocks of (1 + max_m) u32 in
  // upper_links starting at upper_offsets[i]; L(i) = (upper_offsets[i+1] - upper_offsets[i]) / (1 + max_m).
  std::vector<uint64_t> upper_offsets;
  std::vector<uint32_t> upper_links;

  uint32_t Levels(uint32_t node) const {
    return static_cast<uint32_t>((upper_offsets[node + 1] - upper_offsets[node]) / (1 + max_m));
  }
  const uint32_t* Links0(uint32_t node) const { return links0.data() + size_t{node} * (1 + max_m0); }
  // level in [1, Levels(node)].
  const uint32_t* Links(uint32_t node, uint32_t level) const {
    return upper_links.data() + upper_offsets[node] + size_t{level - 1} * (1 + max_m);
  }
  // Every link in range and on a level its target has, counts within capacity, the entry on
  // the top level: what Search relies on to never read out of bounds.
  Status Validate(uint32_t num) const;
};

struct HnswParams {
  uint32_t m = 16;
  uint32_t ef_construction = 200;
  uint32_t ef_search = 200;
};

class HnswIndex final : public VectorIndex {
 public:
  // graph must pass graph.Validate(num).
  HnswIndex(std::vector<float> vectors, uint32_t num, int dim, HnswGraph graph, HnswParams params);

  static StatusOr<std::unique_ptr<HnswIndex>> Build(std::span<const float> vectors, uint32_t num,
                                                    int dim, const AnnOptions& options);

  uint32_t size() const override { return num_; }
  int dim() const override { return dim_; }
  bool exact() const override { return false; }
  void Search(std::span<const float> queries, size_t n, const SearchParams& params,
              std::vector<std::vector<Neighbor>>* out) const override;
  Status Save(const std::string& path) const override;

  std::span<const float> vectors() const { return vectors_; }
  const HnswGraph& graph() const { return graph_; }
  const HnswParams& params() const { return params_; }

 private:
  std::vector<Neighbor> SearchOne(const float* query, size_t k, size_t ef,
                                  const std::function<bool(uint32_t)>& filter) const;
  const float* Vector(uint32_t id) const { return vectors_.data() + size_t{id} * dim_; }

  std::vector<float> vectors_;
  uint32_t num_;
  int dim_;
  HnswGraph graph_;
  HnswParams params_;
};

}  // namespace funnel::retrieval
