// Reading and writing vector index files (docs/formats/vector-index.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "funnel/core/status.h"
#include "retrieval/hnsw_index.h"

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

}  // namespace funnel::retrieval
