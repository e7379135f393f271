// Inner products of many rows with one query: the inner loop of the exact scan (and of the
// request-time iALS retrieve, which scans the whole catalog below `ann_exact_below` items).
//
// The release build targets baseline x86-64 (SSE2) so that one binary runs anywhere; this
// kernel alone is also compiled for AVX2 + FMA and picked at run time when the CPU has them
// (3x fewer instructions per row on 64 factors). Scores may then differ from the SSE2 path in
// the last bits (fused multiply-adds round once): ties between items can break differently on
// different CPUs, nothing else changes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

namespace funnel::retrieval::internal {

// out[r] = rows[r]·query for r < n; rows is n x dim, row-major.
void DotRows(const float* rows, uint32_t n, int dim, const float* query, float* out);

// Which implementation DotRows uses on this CPU ("avx2+fma" or "baseline"), for benchmarks.
const char* DotRowsIsa();

}  // namespace funnel::retrieval::internal
