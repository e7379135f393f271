// Times the evaluation protocol's five rolling folds on an existing data directory:
//   build/bench/eval_protocol_bench --data funnel-data [--repeat 3]
// Prints events, (fold, user) pairs, the median seconds of RollingFolds and the process's peak
// resident memory (which includes RocksDB's block cache and read-ahead, not only the protocol).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "funnel/eval/protocol.h"

int main(int argc, char** argv) {
  std::string data = "funnel-data";
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--data") == 0) data = argv[i + 1];
    else if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::max(1, std::atoi(argv[i + 1]));
  }
  funnel::store::EventStoreOptions opts;
  opts.path = data + "/events";
  opts.read_only = true;
  opts.create_if_missing = false;
  auto store = funnel::store::EventStore::Open(opts);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(funnel::MessageOf(store.status())).c_str());
    return 1;
  }
  std::vector<double> seconds;
  size_t pairs = 0;
  for (int r = 0; r < repeat; ++r) {
    auto start = std::chrono::steady_clock::now();
    auto folds = funnel::eval::RollingFolds(**store, funnel::EventsConfig{}, {});
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!folds.ok()) {
      std::fprintf(stderr, "%s\n", std::string(funnel::MessageOf(folds.status())).c_str());
      return 1;
    }
    pairs = 0;
    for (const auto& s : *folds) pairs += s.users.size();
  }
  std::sort(seconds.begin(), seconds.end());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const uint64_t events = (*store)->Stats().events;
  const double median = seconds[seconds.size() / 2];
  std::printf("events %llu  pairs %zu  RollingFolds median %.3f s (%d runs)  %.2f M events/s per pass-set  peak RSS %ld MiB\n",
              static_cast<unsigned long long>(events), pairs, median, repeat, events / median / 1e6,
              ru.ru_maxrss / 1024);
  return 0;
}
