// Reading and writing vector index files (docs/formats/vector-index.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "funnel/core/status.h"
#include <vector>

#include "retrieval/hnsw_graph.h"

namespace funnel::retrieval {

struct IndexFileContents {
  uint32_t num = 0;
  int dim = 0;
  std::span<const float> vectors;  // num x dim
  const HnswGraph* graph = nullptr;  // null: an exact index
  HnswParams params;                 // meaningful with a graph
};

// Writes to `path` + ".tmp", syncs, then renames over `path`, so a reader never sees half a file.
Status WriteIndexFile(const std::string& path, const IndexFileContents& contents);

// What a file holds, checked against its header and checksum (not yet against the graph's own
// invariants: LoadVectorIndex validates the graph before building the index on it).
struct IndexFileData {
  uint32_t num = 0;
  int dim = 0;
  std::vector<float> vectors;  // num x dim
  bool has_graph = false;
  HnswGraph graph;
  HnswParams params;
};
StatusOr<IndexFileData> ReadIndexFile(const std::string& path);

}  // namespace funnel::retrieval
