#include "funnel/retrieval/vector_index.h"

#include <cmath>

#include "retrieval/exact_index.h"
#include "retrieval/hnsw_index.h"
#include "retrieval/vector_index_io.h"

namespace funnel::retrieval {

StatusOr<std::unique_ptr<VectorIndex>> BuildVectorIndex(std::span<const float> vectors, uint32_t num,
                                                        int dim, const AnnOptions& options) {
  if (dim <= 0) return absl::InvalidArgumentError(Cat("vector index: dimension must be positive, got ", dim));
  if (vectors.size() != size_t{num} * dim)
    return absl::InvalidArgumentError(Cat("vector index: ", vectors.size(), " floats given for ", num,
                                          " items of dimension ", dim));
  // A NaN or infinity would make every comparison with it false and the ranking meaningless.
  for (size_t i = 0; i < vectors.size(); ++i)
    if (!std::isfinite(vectors[i]))
      return absl::InvalidArgumentError(Cat("vector index: item ", i / dim, " has a non-finite component"));
  if (num == 0 || num < options.exact_below) return BuildExactIndex(vectors, num, dim);
  FUNNEL_ASSIGN_OR_RETURN(auto index, HnswIndex::Build(vectors, num, dim, options));
  return std::unique_ptr<VectorIndex>(std::move(index));
}

std::unique_ptr<VectorIndex> BuildExactIndex(std::span<const float> vectors, uint32_t num, int dim) {
  FUNNEL_CHECK(dim > 0 && vectors.size() == size_t{num} * dim);
  return std::make_unique<ExactIndex>(std::vector<float>(vectors.begin(), vectors.end()), num, dim);
}

StatusOr<std::unique_ptr<VectorIndex>> LoadVectorIndex(const std::string& path) {
  FUNNEL_ASSIGN_OR_RETURN(IndexFileData f, ReadIndexFile(path));
  auto fail = [&](std::string_view why) { return absl::DataLossError(Cat("vector index file ", path, ": ", why)); };
  if (!f.has_graph) return std::unique_ptr<VectorIndex>(std::make_unique<ExactIndex>(std::move(f.vectors), f.num, f.dim));
  if (Status valid = f.graph.Validate(f.num); !valid.ok()) return fail(MessageOf(valid));
  // The index serves unindexed items with the score 0 without computing it.
  for (uint32_t i = 0; i < f.num; ++i)
    if (f.graph.shard[i] == HnswGraph::kUnindexed)
      for (int d = 0; d < f.dim; ++d)
        if (f.vectors[size_t{i} * f.dim + d] != 0) return fail(Cat("unindexed item ", i, " has a non-zero vector"));
  if (f.params.ef_search == 0) return fail("ef_search is 0");
  return std::unique_ptr<VectorIndex>(
      std::make_unique<HnswIndex>(std::move(f.vectors), f.num, f.dim, std::move(f.graph), f.params));
}

}  // namespace funnel::retrieval
