// A sparse matrix in compressed rows (CSR): the user x item interaction matrix every learned
// retrieval model trains on, and its transpose (item x user).
//
//   CsrMatrix m = CsrMatrix::FromTriplets(num_users, num_items, std::move(triplets));
//   for (uint32_t u = 0; u < m.rows; ++u)
//     for (uint64_t j = m.offsets[u]; j < m.offsets[u + 1]; ++j) use(m.indices[j], m.values[j]);
//
// Thread-safety: a value type; concurrent reads are safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace funnel::retrieval {

struct Triplet {
  uint32_t row = 0;
  uint32_t col = 0;
  float value = 0;
};

struct CsrMatrix {
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<uint64_t> offsets{0};  // rows + 1 entries
  std::vector<uint32_t> indices;     // column of each entry, ascending within a row
  std::vector<float> values;

  uint64_t nnz() const { return indices.size(); }
  std::span<const uint32_t> RowIndices(uint32_t r) const {
    return {indices.data() + offsets[r], indices.data() + offsets[r + 1]};
  }
  std::span<const float> RowValues(uint32_t r) const {
    return {values.data() + offsets[r], values.data() + offsets[r + 1]};
  }
  CsrMatrix Transposed() const;

  // Sums the values of repeated (row, col) pairs in the order given (in float); drops entries
  // whose sum is exactly 0.
  static CsrMatrix FromTriplets(uint32_t rows, uint32_t cols, std::vector<Triplet> triplets);
};

}  // namespace funnel::retrieval
