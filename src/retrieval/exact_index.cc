#include "retrieval/exact_index.h"

#include <algorithm>

#include <Eigen/Core>

#include "funnel/core/status.h"
#include "retrieval/top_k.h"
#include "retrieval/vector_index_io.h"

namespace funnel::retrieval {
namespace {

// Items scored per matrix-vector product: the block's vectors (1024 x 64 floats = 256 KiB)
// and scores stay in L2 while the top-k pass reads them.
constexpr uint32_t kBlockItems = 1024;

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

std::vector<Neighbor> ExactSearchOne(std::span<const float> vectors, uint32_t num, int dim,
                                     const float* query, size_t k,
                                     const std::function<bool(uint32_t)>& filter) {
  TopK top(std::min<size_t>(k, num));
  if (k == 0 || num == 0) return {};
  Eigen::Map<const Eigen::VectorXf> q(query, dim);
  Eigen::VectorXf scores(std::min(num, kBlockItems));
  for (uint32_t begin = 0; begin < num; begin += kBlockItems) {
    uint32_t rows = std::min(kBlockItems, num - begin);
    Eigen::Map<const RowMatrix> block(vectors.data() + size_t{begin} * dim, rows, dim);
    scores.head(rows).noalias() = block * q;
    for (uint32_t r = 0; r < rows; ++r) {
      uint32_t id = begin + r;
      if (!top.Admits(id, scores[r])) continue;
      if (filter && !filter(id)) continue;
      top.Push(id, scores[r]);
    }
  }
  return top.TakeSorted();
}

ExactIndex::ExactIndex(std::vector<float> vectors, uint32_t num, int dim)
    : vectors_(std::move(vectors)), num_(num), dim_(dim) {
  FUNNEL_CHECK(dim_ > 0);
  FUNNEL_CHECK(vectors_.size() == size_t{num_} * dim_);
}

void ExactIndex::Search(std::span<const float> queries, size_t n, const SearchParams& params,
                        std::vector<std::vector<Neighbor>>* out) const {
  FUNNEL_CHECK(queries.size() >= n * dim_);
  out->resize(n);
  for (size_t q = 0; q < n; ++q)
    (*out)[q] = ExactSearchOne(vectors_, num_, dim_, queries.data() + q * dim_, params.k, params.filter);
}

Status ExactIndex::Save(const std::string& path) const {
  IndexFileContents contents;
  contents.num = num_;
  contents.dim = dim_;
  contents.vectors = vectors_;
  return WriteIndexFile(path, contents);
}

}  // namespace funnel::retrieval
