#include "funnel/core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace funnel {

void ParallelFor(size_t n, int threads, const std::function<void(size_t, size_t, int)>& body,
                 size_t grain) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  size_t chunks = (n + grain - 1) / grain;
  int workers = static_cast<int>(std::min<size_t>(std::max(threads, 1), chunks));
  if (workers <= 1) {
    body(0, n, 0);
    return;
  }
  std::atomic<size_t> next{0};
  auto run = [&](int worker) {
    for (;;) {
      size_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      body(c * grain, std::min(n, (c + 1) * grain), worker);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (int w = 1; w < workers; ++w) pool.emplace_back(run, w);
  run(0);
  for (auto& t : pool) t.join();
}

int HardwareThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace funnel
