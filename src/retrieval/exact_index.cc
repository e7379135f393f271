#include "retrieval/exact_index.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Core>

#include "funnel/core/status.h"
#include "retrieval/dot_kernels.h"
#include "retrieval/half_float.h"
#include "retrieval/top_k.h"
#include "retrieval/vector_index_io.h"

namespace funnel::retrieval {
namespace {

// Items scored per matrix-vector product: the block's vectors (1024 x 64 floats = 256 KiB)
// and scores stay in L2 while the top-k pass reads them.
constexpr uint32_t kBlockItems = 1024;

constexpr size_t kBatchQueries = 32;

// Half rows scored per call in the half scan: small, so that an early stop wastes little.
constexpr uint32_t kHalfBlockRows = 256;

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

// Scores in half precision first, then the float scores of the few items that can still be in
// the top k: the scan reads half the bytes. A row's half score s' differs from its float score
// s (as DotRows computes it) by at most
//   E = |q|·|x|·(2^-11 + 2·dim·2^-24 + 2^-20) + |q|₁·2^-24,
// rounding to half (relative 2^-11, absolute 2^-25 below the normal range) plus both float
// sums' rounding, with 1% to spare for computing E itself. Let L be the k-th best lower bound
// s' - E among allowed items: k allowed items score at least L, so every item of the true top k
// does too, and its upper bound s' + E >= L. Those items are rescored with DotRowsGather, whose
// scores are bit-identical to DotRows': the result is exactly ExactSearchOne's.
//
// The half rows are kept in decreasing norm, so the scan can stop early: no row after one of
// norm n can score above |q|·n (Cauchy-Schwarz), so none has an upper bound above
// |q|·n + 2E(n); once that is below L, the rest of the catalog is skipped. Trained factors'
// norms follow popularity (a long tail of small ones), so most of a catalog is skipped for
// most queries; the result is unchanged.
std::vector<Neighbor> ExactIndex::SearchHalf(const float* query, size_t k,
                                             const std::function<bool(uint32_t)>& filter) const {
  if (k == 0 || num_ == 0) return {};
  double q2 = 0, q1 = 0;
  for (int j = 0; j < dim_; ++j) {
    q2 += double{query[j]} * query[j];
    q1 += std::fabs(query[j]);
  }
  const auto rel = static_cast<float>(1.01 * std::sqrt(q2) * (0x1p-11 + 2.0 * dim_ * 0x1p-24 + 0x1p-20));
  const auto abs = static_cast<float>(1.01 * q1 * 0x1p-24) + std::numeric_limits<float>::min();
  const size_t keep = std::min<size_t>(k, num_);
  TopK lower(keep);
  float bar = -std::numeric_limits<float>::infinity();  // L once `lower` is full
  std::vector<uint32_t> ids;
  std::vector<float> upper;
  // The bound on every later row's upper bound, from the current row's norm, rounded up.
  const float reach = static_cast<float>(std::sqrt(q2) * (1 + 1e-6)) + 2 * rel;
  auto later_cannot_reach = [&](float norm) { return 1.001f * (reach * norm + 2 * abs) < bar; };
  std::vector<float> scores(std::min(num_, kHalfBlockRows));
  bool done = false;
  for (uint32_t begin = 0; begin < num_ && !done; begin += kHalfBlockRows) {
    if (lower.full() && later_cannot_reach(norms_[begin])) break;
    const uint32_t rows = std::min(kHalfBlockRows, num_ - begin);
    internal::DotRowsHalf(halves_.data() + size_t{begin} * dim_, rows, dim_, query, scores.data());
    for (uint32_t r = 0; r < rows; ++r) {
      const uint32_t p = begin + r, id = order_[p];
      const float e = rel * norms_[p] + abs;
      const float hi = scores[r] + e;
      if (hi < bar) {
        if (later_cannot_reach(norms_[p])) {
          done = true;
          break;
        }
        continue;
      }
      if (filter && !filter(id)) continue;
      ids.push_back(id);
      upper.push_back(hi);
      lower.Push(id, scores[r] - e);
      if (lower.full()) bar = lower.worst().score;
    }
  }
  size_t n = 0;
  for (size_t i = 0; i < ids.size(); ++i)
    if (upper[i] >= bar) ids[n++] = ids[i];
  ids.resize(n);
  std::vector<float> exact(n);
  internal::DotRowsGather(vectors_.data(), ids.data(), static_cast<uint32_t>(n), dim_, query, exact.data());
  TopK top(keep);
  for (size_t i = 0; i < n; ++i) top.Push(ids[i], exact[i]);
  return top.TakeSorted();
}

ExactIndex::ExactIndex(std::vector<float> vectors, uint32_t num, int dim)
    : vectors_(std::move(vectors)), num_(num), dim_(dim) {
  FUNNEL_CHECK(dim_ > 0);
  FUNNEL_CHECK(vectors_.size() == size_t{num_} * dim_);
  // The half copy only where it pays (hardware conversion) and is safe (every value finite and
  // well inside the half range, so the bound above holds).
  if (!internal::HalfRowsAreFast()) return;
  for (float x : vectors_)
    if (!(std::fabs(x) < 60000.0f)) return;
  std::vector<double> norms(num_);
  for (uint32_t r = 0; r < num_; ++r) {
    double sq = 0;
    for (int j = 0; j < dim_; ++j) sq += double{vectors_[size_t{r} * dim_ + j]} * vectors_[size_t{r} * dim_ + j];
    norms[r] = std::sqrt(sq);
  }
  order_.resize(num_);
  for (uint32_t r = 0; r < num_; ++r) order_[r] = r;
  std::stable_sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) { return norms[a] > norms[b]; });
  halves_.resize(vectors_.size());
  norms_.resize(num_);
  for (uint32_t p = 0; p < num_; ++p) {
    const uint32_t r = order_[p];
    for (int j = 0; j < dim_; ++j) halves_[size_t{p} * dim_ + j] = internal::FloatToHalf(vectors_[size_t{r} * dim_ + j]);
    norms_[p] = std::nextafter(static_cast<float>(norms[r]), std::numeric_limits<float>::infinity());
  }
}

void ExactIndex::Search(std::span<const float> queries, size_t n, const SearchParams& params,
                        std::vector<std::vector<Neighbor>>* out) const {
  FUNNEL_CHECK(queries.size() >= n * dim_);
  out->assign(n, {});
  if (n == 1 || params.k == 0 || num_ == 0) {
    for (size_t q = 0; q < n; ++q) {
      const float* query = queries.data() + q * dim_;
      (*out)[q] = halves_.empty() ? ExactSearchOne(vectors_, num_, dim_, query, params.k, params.filter)
                                  : SearchHalf(query, params.k, params.filter);
    }
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
