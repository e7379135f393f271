// The inner loops of a request's iALS work: inner products of many rows with one query (the
// exact scan, in float or half precision; the request-time retrieve scans the whole catalog
// below `ann_exact_below` items) and the rank-n update of the fold-in's normal equations.
//
// The release build targets baseline x86-64 (SSE2) so that one binary runs anywhere; these
// kernels alone are also compiled for AVX2 + FMA (+ F16C for half rows) and picked at run time
// when the CPU has them (3x fewer instructions per row on 64 factors). Scores may then differ from the SSE2 path in
// the last bits (fused multiply-adds round once): ties between items can break differently on
// different CPUs, nothing else changes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

namespace funnel::retrieval::internal {

// out[r] = rows[r]·query for r < n; rows is n x dim, row-major.
void DotRows(const float* rows, uint32_t n, int dim, const float* query, float* out);

// out[i] = rows[ids[i]]·query for i < n: DotRows over rows picked by id (rows: row-major,
// `dim` floats each), e.g. the unvisited neighbours of a graph node. A row's result is
// bit-identical to DotRows' for the same row and query (on the same CPU).
void DotRowsGather(const float* rows, const uint32_t* ids, uint32_t n, int dim, const float* query, float* out);

// DotRows over half-precision rows (IEEE binary16, half_float.h): the exact index's first pass.
// Sums in float; their order, and so the last bits, are unspecified.
void DotRowsHalf(const uint16_t* rows, uint32_t n, int dim, const float* query, float* out);

// Whether DotRowsHalf converts in hardware (AVX2 + FMA + F16C) on this CPU; without it the
// half rows are no faster than float ones and the exact index scans floats only.
bool HalfRowsAreFast();

// c += Σ_k x_k·x_kᵀ over the n columns x_k of `x` (f x n, column-major: column k at x + k·f):
// the rank-n update of the iALS normal equations. Only the lower triangle of c (f x f,
// column-major) is guaranteed to be updated; the upper may or may not be.
void AddOuterProducts(const float* x, int f, int n, float* c);

// Which implementation DotRows uses on this CPU ("avx2+fma" or "baseline"), for benchmarks.
const char* DotRowsIsa();

}  // namespace funnel::retrieval::internal
