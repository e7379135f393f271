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
#include "retrieval/hnsw_graph.h"
#include "retrieval/top_k.h"

namespace funnel::retrieval {

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
