// Data-parallel loops over an index range. Training stages (iALS, EASE, co-visitation) split
// their work with ParallelFor; the thread count travels in each stage's options, never a global.
//
//   ParallelFor(num_users, /*threads=*/2, [&](size_t begin, size_t end, int worker) { ... });
//
// Thread-safety: ParallelFor is reentrant; the body must only write state owned by its range
// or by its worker index.
#pragma once

#include <cstddef>
#include <functional>

namespace funnel {

// Splits [0, n) into chunks of about `grain` indexes and runs body(begin, end, worker) on
// `threads` threads (worker in [0, threads)); chunks are handed out dynamically so uneven rows
// (power users, popular items) do not leave a thread idle. threads <= 1 runs inline.
void ParallelFor(size_t n, int threads, const std::function<void(size_t, size_t, int)>& body,
                 size_t grain = 256);

// Threads to use when a config says 0 ("all cores").
int HardwareThreads();

}  // namespace funnel
