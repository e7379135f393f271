// The graph (HNSW) inner-product index. hnswlib builds the graphs; the index then keeps its own
// copy of them, which it searches and serializes itself (see hnsw_index.cc for why).
// Thread-safety: immutable after construction; Search is safe concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/retrieval/vector_index.h"
#include "retrieval/top_k.h"

namespace funnel::retrieval {

// HNSW graphs over ids 0..num-1 (ids are item ids: the vectors' row numbers), one graph per
// norm range ("shard"; see hnsw_index.cc for why). All shards share one set of link tables
// indexed by item id; a link never leaves its node's shard. Items in no shard (kUnindexed) have
// all-zero vectors: they score exactly 0 for every query and are served without a graph.
struct HnswGraph {
  static constexpr uint32_t kUnindexed = 0xFFFFFFFF;
  struct Entry {
    uint32_t node = 0;   // entry node of the shard, on its top level
    uint32_t level = 0;  // the shard's top level
  };

  uint32_t max_m = 0;   // link capacity of a node on levels >= 1 (hnswlib maxM_)
  uint32_t max_m0 = 0;  // link capacity on level 0 (hnswlib maxM0_ = 2M)
  std::vector<Entry> entries;   // one per shard
  std::vector<uint32_t> shard;  // per item: its shard, or kUnindexed
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
  // Every link in range, inside its node's shard and on a level its target has, counts within
  // capacity, each entry in its shard on the shard's top level, unindexed items without links:
  // what Search relies on to never read out of bounds.
  Status Validate(uint32_t num) const;
};

struct HnswParams {
  uint32_t m = 16;
  uint32_t ef_construction = 200;
  uint32_t ef_search = 200;
  uint32_t norm_shards = 1;  // as asked at build (informational: the graph holds what was built)
};

class HnswIndex final : public VectorIndex {
 public:
  // graph must pass graph.Validate(num), and its unindexed items must have all-zero vectors.
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
  struct SearchState;
  std::vector<Neighbor> SearchOne(const float* query, size_t k, size_t ef,
                                  const std::function<bool(uint32_t)>& filter) const;
  // The beam search in one shard, `beam` wide; adds what it finds to `top`.
  void SearchShard(uint32_t shard, const float* query, size_t beam, const std::function<bool(uint32_t)>& filter,
                   SearchState* state, TopK* top) const;
  // Marks the not yet visited of links[0..count) visited and scores them: their ids and inner
  // products land in state->ids / state->scores; returns how many.
  uint32_t ScoreLinks(const uint32_t* links, uint32_t count, const float* query, SearchState* state) const;
  const float* Vector(uint32_t id) const { return vectors_.data() + size_t{id} * dim_; }
  // Asks for every cache line of a row: the search asks for all of a node's links before
  // scoring them, since the rows are rarely in cache and the loads then overlap.
  void PrefetchRow(uint32_t id) const {
    const char* row = reinterpret_cast<const char*>(Vector(id));
    for (size_t offset = 0; offset < sizeof(float) * static_cast<size_t>(dim_); offset += 64)
      __builtin_prefetch(row + offset);
  }

  std::vector<float> vectors_;
  uint32_t num_;
  int dim_;
  HnswGraph graph_;
  HnswParams params_;
  // Derived from the vectors and the graph at construction.
  std::vector<float> shard_max_norm_;          // per shard: the largest |x| in it
  std::vector<uint32_t> shard_order_;          // shards by descending max norm
  std::vector<std::vector<uint32_t>> shard_members_;  // per shard: its items, for small shards' scans
  std::vector<uint32_t> unindexed_;            // zero-vector items, ascending
};

}  // namespace funnel::retrieval
