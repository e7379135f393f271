// The HNSW graph as the index keeps it and the index file stores it: plain data, shared by the
// index (hnsw_index.h) and the file reader and writer (vector_index_io.h), so neither depends
// on the other.
// Thread-safety: a value type; const access is safe concurrently.
#pragma once

#include <cstdint>
#include <vector>

#include "funnel/core/status.h"

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

}  // namespace funnel::retrieval
