#include "funnel/retrieval/sparse_matrix.h"

#include <algorithm>

namespace funnel::retrieval {

CsrMatrix CsrMatrix::Transposed() const {
  CsrMatrix t;
  t.rows = cols;
  t.cols = rows;
  t.offsets.assign(size_t{cols} + 1, 0);
  for (uint32_t c : indices) ++t.offsets[c + 1];
  for (uint32_t c = 0; c < cols; ++c) t.offsets[c + 1] += t.offsets[c];
  t.indices.resize(indices.size());
  t.values.resize(values.size());
  std::vector<uint64_t> next(t.offsets.begin(), t.offsets.end() - 1);
  // Rows are visited in order, so each transposed row comes out sorted by column.
  for (uint32_t r = 0; r < rows; ++r)
    for (uint64_t j = offsets[r]; j < offsets[r + 1]; ++j) {
      uint64_t dst = next[indices[j]]++;
      t.indices[dst] = r;
      t.values[dst] = values[j];
    }
  return t;
}

CsrMatrix CsrMatrix::FromTriplets(uint32_t rows, uint32_t cols, std::vector<Triplet> triplets) {
  // Stable: repeated pairs are summed in the order given (time order for training sets), the
  // order request-time user states sum them in, so both give the same float.
  std::stable_sort(triplets.begin(), triplets.end(), [](const Triplet& a, const Triplet& b) {
    return a.row != b.row ? a.row < b.row : a.col < b.col;
  });
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.offsets.assign(size_t{rows} + 1, 0);
  m.indices.reserve(triplets.size());
  m.values.reserve(triplets.size());
  for (size_t i = 0; i < triplets.size();) {
    size_t j = i;
    float sum = 0;
    while (j < triplets.size() && triplets[j].row == triplets[i].row && triplets[j].col == triplets[i].col)
      sum += triplets[j++].value;
    if (sum != 0) {
      m.indices.push_back(triplets[i].col);
      m.values.push_back(sum);
      ++m.offsets[triplets[i].row + 1];
    }
    i = j;
  }
  for (uint32_t r = 0; r < rows; ++r) m.offsets[r + 1] += m.offsets[r];
  return m;
}

}  // namespace funnel::retrieval
