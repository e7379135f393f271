#include "funnel/retrieval/sparse_matrix.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace funnel::retrieval {
namespace {

std::vector<uint32_t> Indices(const CsrMatrix& m, uint32_t r) {
  auto s = m.RowIndices(r);
  return {s.begin(), s.end()};
}
std::vector<float> Values(const CsrMatrix& m, uint32_t r) {
  auto s = m.RowValues(r);
  return {s.begin(), s.end()};
}

TEST(CsrMatrixTest, FromTripletsSortsColumnsWithinEachRow) {
  CsrMatrix m = CsrMatrix::FromTriplets(3, 4, {{2, 3, 1}, {0, 2, 5}, {2, 0, 2}, {0, 1, 4}});
  EXPECT_EQ(m.rows, 3u);
  EXPECT_EQ(m.cols, 4u);
  EXPECT_EQ(m.nnz(), 4u);
  EXPECT_EQ(m.offsets, (std::vector<uint64_t>{0, 2, 2, 4}));
  EXPECT_EQ(Indices(m, 0), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(Values(m, 0), (std::vector<float>{4, 5}));
  EXPECT_TRUE(Indices(m, 1).empty());
  EXPECT_EQ(Indices(m, 2), (std::vector<uint32_t>{0, 3}));
  EXPECT_EQ(Values(m, 2), (std::vector<float>{2, 1}));
}

TEST(CsrMatrixTest, FromTripletsSumsDuplicates) {
  CsrMatrix m = CsrMatrix::FromTriplets(2, 2, {{1, 1, 1.5f}, {0, 0, 1}, {1, 1, 2}, {1, 1, -0.5f}});
  EXPECT_EQ(m.nnz(), 2u);
  EXPECT_EQ(Indices(m, 1), (std::vector<uint32_t>{1}));
  EXPECT_EQ(Values(m, 1), (std::vector<float>{3}));
}

TEST(CsrMatrixTest, FromTripletsDropsEntriesThatSumToZero) {
  // A like undone by an unlike leaves no entry at all, as if the pair had never interacted.
  CsrMatrix m = CsrMatrix::FromTriplets(2, 3, {{0, 1, 1}, {0, 1, -1}, {0, 2, 2}, {1, 0, 0}});
  EXPECT_EQ(m.nnz(), 1u);
  EXPECT_EQ(Indices(m, 0), (std::vector<uint32_t>{2}));
  EXPECT_TRUE(Indices(m, 1).empty());
  EXPECT_EQ(m.offsets, (std::vector<uint64_t>{0, 1, 1}));
}

TEST(CsrMatrixTest, EmptyMatrixHasOneOffsetPerRowPlusOne) {
  CsrMatrix m = CsrMatrix::FromTriplets(3, 2, {});
  EXPECT_EQ(m.nnz(), 0u);
  EXPECT_EQ(m.offsets, (std::vector<uint64_t>{0, 0, 0, 0}));
  CsrMatrix t = m.Transposed();
  EXPECT_EQ(t.rows, 2u);
  EXPECT_EQ(t.cols, 3u);
  EXPECT_EQ(t.offsets, (std::vector<uint64_t>{0, 0, 0}));
}

TEST(CsrMatrixTest, TransposedMovesEveryEntryToItsMirror) {
  CsrMatrix m = CsrMatrix::FromTriplets(2, 3, {{0, 2, 1}, {1, 0, 2}, {1, 2, 3}});
  CsrMatrix t = m.Transposed();
  EXPECT_EQ(t.rows, 3u);
  EXPECT_EQ(t.cols, 2u);
  EXPECT_EQ(Indices(t, 0), (std::vector<uint32_t>{1}));
  EXPECT_EQ(Values(t, 0), (std::vector<float>{2}));
  EXPECT_TRUE(Indices(t, 1).empty());
  EXPECT_EQ(Indices(t, 2), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(Values(t, 2), (std::vector<float>{1, 3}));
}

TEST(CsrMatrixTest, TransposeOfTransposeIsTheOriginal) {
  std::mt19937 rng(3);
  std::vector<Triplet> triplets;
  for (int k = 0; k < 2000; ++k)
    triplets.push_back({static_cast<uint32_t>(rng() % 70), static_cast<uint32_t>(rng() % 40),
                        static_cast<float>(rng() % 7) - 3.0f});
  CsrMatrix m = CsrMatrix::FromTriplets(70, 40, triplets);
  CsrMatrix tt = m.Transposed().Transposed();
  EXPECT_EQ(tt.rows, m.rows);
  EXPECT_EQ(tt.cols, m.cols);
  EXPECT_EQ(tt.offsets, m.offsets);
  EXPECT_EQ(tt.indices, m.indices);
  EXPECT_EQ(tt.values, m.values);
  // Rows of the transpose come out sorted too (the CSR invariant other code relies on).
  CsrMatrix t = m.Transposed();
  for (uint32_t r = 0; r < t.rows; ++r) {
    auto idx = t.RowIndices(r);
    EXPECT_TRUE(std::is_sorted(idx.begin(), idx.end()));
  }
}

}  // namespace
}  // namespace funnel::retrieval
