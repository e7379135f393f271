// Nearest neighbours by inner product over item vectors: an hnswlib graph index for large
// catalogs and an exact brute-force index with the same interface, used for small catalogs and
// as the oracle the graph index's recall is measured against.
//
//   FUNNEL_ASSIGN_OR_RETURN(auto index, BuildVectorIndex(vectors, num_items, dim, AnnOptions{}));
//   std::vector<std::vector<Neighbor>> out;
//   index->Search(queries, num_queries, {.k = 100, .ef = 200}, &out);   // best first
//   FUNNEL_RETURN_IF_ERROR(index->Save(path));   // docs/formats/vector-index.md
//
// Per-request knobs (k, ef, filter) travel with the call: a live index is never mutated to
// tune one query. Results are ordered by score, ties by smaller id. Thread-safety: an index is
// immutable after Build/Load; Search may run concurrently from many threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "funnel/core/status.h"

namespace funnel::retrieval {

struct Neighbor {
  uint32_t id = 0;
  float score = 0;  // inner product
};

inline constexpr int kMaxNormShards = 64;

struct AnnOptions {
  int m = 16;                   // graph degree (hnswlib M)
  int ef_construction = 200;
  int ef_search = 200;          // default ef when a search does not give one
  // The graph index splits the items with non-zero vectors into this many equal-sized norm
  // ranges, one graph each (1..kMaxNormShards). Items with an all-zero vector are in no graph
  // (they score 0 and are served by a scan when fewer than k items score above 0). 16: on a
  // trained iALS model's 100k item vectors (bench/ann_model_recall) recall@100 at ef 200 is
  // 0.95 / 0.97 / 0.98 with 12 / 16 / 24 ranges (item-to-item queries, the hardest) for
  // 3,200 / 3,500 / 4,000 inner products per query (16: 0.2 ms CPU, a scan 1.4 ms). Vectors of
  // nearly equal norms gain nothing from ranges: on 100k unit vectors one graph gave 0.997 at
  // 0.18 ms, 16 ranges 0.985 at 0.35 ms.
  int norm_shards = 16;
  // Catalogs smaller than this get the exact index: a scan of 30k x 64 floats costs about
  // 0.4 ms and has recall 1, and the graph would save at most half of it (bench/ann_model_recall
  // at 20k items: 0.27 ms for the scan, 0.17 ms CPU for the graph at ef 200, recall 0.99).
  uint32_t exact_below = 30000;
  int threads = 0;              // build threads; 0: every core
  uint64_t seed = 100;
};

struct SearchParams {
  size_t k = 100;
  int ef = 0;  // 0: the index's default; raised to k when smaller
  // When set, only ids for which it returns true are returned (e.g. not yet consumed). It is
  // applied inside the search, so k results come back when k reachable items pass; the fewer pass,
  // the more of the graph a search walks (at worst all of it). Called on the searching thread.
  std::function<bool(uint32_t)> filter{};
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;
  virtual uint32_t size() const = 0;
  virtual int dim() const = 0;
  virtual bool exact() const = 0;
  // queries: n x dim, row-major. (*out)[q] holds at most k neighbours of query q, best first.
  virtual void Search(std::span<const float> queries, size_t n, const SearchParams& params,
                      std::vector<std::vector<Neighbor>>* out) const = 0;
  // Writes the index with a magic, a version and a checksum (docs/formats/vector-index.md).
  virtual Status Save(const std::string& path) const = 0;
};

// vectors: num x dim, row-major, id = row. Chooses the exact index below options.exact_below.
StatusOr<std::unique_ptr<VectorIndex>> BuildVectorIndex(std::span<const float> vectors, uint32_t num,
                                                        int dim, const AnnOptions& options);
// Always exact (brute force).
std::unique_ptr<VectorIndex> BuildExactIndex(std::span<const float> vectors, uint32_t num, int dim);
// Reads a file written by Save; a wrong magic, version or checksum is an error naming the file.
StatusOr<std::unique_ptr<VectorIndex>> LoadVectorIndex(const std::string& path);

}  // namespace funnel::retrieval
