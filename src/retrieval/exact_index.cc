#include "retrieval/exact_index.h"

#include <algorithm>

#include <Eigen/Core>

#include "funnel/core/status.h"
#include "retrieval/dot_kernels.h"
#include "retrieval/top_k.h"
#include "retrieval/vector_index_io.h"

namespace funnel::retrieval {
namespace {

// Items scored per matrix-vector product: the block's vectors (1024 x 64 floats = 256 KiB)
// and scores stay in L2 while the top-k pass reads them.
constexpr uint32_t kBlockItems = 1024;

constexpr size_t kBatchQueries = 32;

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

std::vector<Neighbor> ExactSearchOne(std::span<const float> vectors, uint32_t num, int dim,
                                     const float* query, size_t k,
                                     const std::function<bool(uint32_t)>& filter) {
  TopK top(std::min<size_t>(k, num));
  if (k == 0 || num == 0) return {};
  std::vector<float> scores(std::min(num, kBlockItems));
  for (uint32_t begin = 0; begin < num; begin += kBlockItems) {
    uint32_t rows = std::min(kBlockItems, num - begin);
    internal::DotRows(vectors.data() + size_t{begin} * dim, rows, dim, query, scores.data());
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
  out->assign(n, {});
  if (n == 1 || params.k == 0 || num_ == 0) {
    for (size_t q = 0; q < n; ++q)
      (*out)[q] = ExactSearchOne(vectors_, num_, dim_, queries.data() + q * dim_, params.k, params.filter);
    return;
  }
  // A batch scores kBatchQueries queries per pass over the vectors (a matrix product instead
  // of matrix-vector ones), so each block of vectors is read from memory once per batch.
  for (size_t q0 = 0; q0 < n; q0 += kBatchQueries) {
    const size_t nq = std::min(kBatchQueries, n - q0);
    Eigen::Map<const RowMatrix> batch(queries.data() + q0 * dim_, static_cast<Eigen::Index>(nq), dim_);
    std::vector<TopK> tops(nq, TopK(std::min<size_t>(params.k, num_)));
    Eigen::MatrixXf scores(std::min(num_, kBlockItems), nq);  // column q: query q0 + q
    for (uint32_t begin = 0; begin < num_; begin += kBlockItems) {
      uint32_t rows = std::min(kBlockItems, num_ - begin);
      Eigen::Map<const RowMatrix> block(vectors_.data() + size_t{begin} * dim_, rows, dim_);
      scores.topRows(rows).noalias() = block * batch.transpose();
      for (size_t q = 0; q < nq; ++q) {
        const float* column = scores.col(static_cast<Eigen::Index>(q)).data();
        for (uint32_t r = 0; r < rows; ++r) {
          uint32_t id = begin + r;
          if (!tops[q].Admits(id, column[r])) continue;
          if (params.filter && !params.filter(id)) continue;
          tops[q].Push(id, column[r]);
        }
      }
    }
    for (size_t q = 0; q < nq; ++q) (*out)[q0 + q] = tops[q].TakeSorted();
  }
}

Status ExactIndex::Save(const std::string& path) const {
  IndexFileContents contents;
  contents.num = num_;
  contents.dim = dim_;
  contents.vectors = vectors_;
  return WriteIndexFile(path, contents);
}

}  // namespace funnel::retrieval
