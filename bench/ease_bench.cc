// EASE fit time on synthetic interaction matrices the size of MovieLens-1M positives
// (5.5k users x 3.7k items, ~518k nonzeros) and of a 10.7k-item catalog (56k x 10.7k, ~4.5M
// nonzeros), in double and float, on 1 and 2 threads, with the float fit's error against the
// double one. Prints a Markdown table.
//
//   build/bench/ease_bench [--sizes small,large] [--runs d1,d2,f2]
//   (runs: d double, f float, a auto = TrainEase's choice; the digit is the thread count)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "funnel/retrieval/ease.h"
#include "retrieval/ease_internal.h"

using namespace funnel::retrieval;

namespace {

// Power-law item popularity and lognormal user activity, like real interaction logs (the Gram's
// cost grows with the sum of squared row lengths, so skew matters).
CsrMatrix SyntheticInteractions(uint32_t users, uint32_t items, uint64_t target_nnz, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> popularity(items);
  for (uint32_t i = 0; i < items; ++i) popularity[i] = 1.0 / std::pow(i + 10.0, 0.9);
  std::shuffle(popularity.begin(), popularity.end(), rng);
  std::discrete_distribution<uint32_t> pick(popularity.begin(), popularity.end());
  const double mean = double(target_nnz) / users, sigma = 1.0;
  std::lognormal_distribution<double> activity(std::log(mean) - sigma * sigma / 2, sigma);
  std::vector<Triplet> triplets;
  triplets.reserve(target_nnz * 11 / 10);
  std::vector<uint32_t> row;
  for (uint32_t u = 0; u < users; ++u) {
    uint32_t want = std::clamp<uint32_t>(uint32_t(activity(rng)), 1, items / 3);
    std::set<uint32_t> seen;
    while (seen.size() < want) seen.insert(pick(rng));
    for (uint32_t i : seen) triplets.push_back({u, i, 1.0f});
  }
  return CsrMatrix::FromTriplets(users, items, std::move(triplets));
}

// CPU time beside wall time: the benchmark machine is shared, and wall time then includes
// waiting for a core. With 2 threads CPU time is the sum over both.
double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Size {
  const char* name;
  uint32_t users, items;
  uint64_t nnz;
  double reference_seconds;  // numpy + OpenBLAS, same machine type
};

}  // namespace

int main(int argc, char** argv) {
  std::string sizes = "small,large", runs = "d1,d2,f2";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--sizes") sizes = argv[i + 1];
    else if (flag == "--runs") runs = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  std::vector<Size> all = {{"small", 5500, 3700, 518000, 2.4}, {"large", 56000, 10700, 4500000, 41}};
  std::printf("| items | users | nnz | precision | threads | gram s | factor s | inverse s | total s (CPU s) | numpy ref s | cond. estimate | max abs(B_f - B_d) / max abs(B_d) |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const Size& size : all) {
    if (sizes.find(size.name) == std::string::npos) continue;
    CsrMatrix x = SyntheticInteractions(size.users, size.items, size.nnz, 17);
    EaseModel reference;
    std::stringstream list(runs);
    for (std::string run; std::getline(list, run, ',');) {
      EasePrecision precision = run[0] == 'f'   ? EasePrecision::kFloat
                                : run[0] == 'a' ? EasePrecision::kAuto
                                                : EasePrecision::kDouble;
      int threads = std::stoi(run.substr(1));
      EaseFitTimes t;
      auto start = std::chrono::steady_clock::now();
      double cpu_start = ProcessCpuSeconds();
      auto model = TrainEaseWith(x, {.lambda = 500, .threads = threads}, precision, &t);
      double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double cpu = ProcessCpuSeconds() - cpu_start;
      if (!model.ok()) {
        std::fprintf(stderr, "%s\n", std::string(funnel::MessageOf(model.status())).c_str());
        return 1;
      }
      std::string error = "";
      if (precision == EasePrecision::kDouble && reference.num_items() == 0) reference = std::move(*model);
      else if (!t.used_double && reference.num_items() > 0)
        error = std::to_string((model->weights - reference.weights).cwiseAbs().maxCoeff() /
                               reference.weights.cwiseAbs().maxCoeff());
      std::printf("| %u | %u | %lu | %s%s | %d | %.2f | %.2f | %.2f | %.2f (%.2f) | %.1f | %.0f | %s |\n", size.items,
                  size.users, static_cast<unsigned long>(x.nnz()), precision == EasePrecision::kAuto ? "auto: " : "",
                  t.used_double ? "double" : "float", threads, t.gram_seconds, t.factor_seconds, t.inverse_seconds,
                  total, cpu, size.reference_seconds, t.condition_estimate, error.c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}
