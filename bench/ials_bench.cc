// iALS training speed on the two reference shapes of docs/figures.md (implicit 0.7.3, CG, 64
// factors, 15 iterations, 2 threads: 1.1 s on 5.5k x 3.7k with 518k positives, 12.7 s on
// 56k x 10.7k with 4.5 M positives), on synthetic data shaped like real logs, plus a quality
// sanity figure (held-out hit rate @20 against a popularity baseline).
//
//   build/bench/ials_bench                       # both shapes, 3 runs small, 1 run large
//   build/bench/ials_bench --shape small --runs 5 --threads 2 --factors 64 --iterations 15
//
// Data: item popularity follows a Zipf law over a random order of the items; user activity is
// log-normal with a floor (20 like MovieLens), capped at a quarter of the catalog; each user
// has a home topic (32 topics) and takes 75% of its items from that topic by popularity, the
// rest from the whole catalog by popularity. One extra item per user is held out for the
// quality figure, so the timed matrix has exactly the reference number of entries.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "funnel/retrieval/ials.h"
#include "funnel/retrieval/sparse_matrix.h"

namespace {

using funnel::retrieval::CsrMatrix;
using funnel::retrieval::IalsModel;
using funnel::retrieval::IalsOptions;
using funnel::retrieval::Triplet;

struct Shape {
  const char* name;
  uint32_t users;
  uint32_t items;
  uint64_t nnz;
  double reference_seconds;
};

constexpr Shape kShapes[] = {
    {"small", 5500, 3700, 518000, 1.1},
    {"large", 56000, 10700, 4500000, 12.7},
};

struct Dataset {
  CsrMatrix train;
  std::vector<int64_t> held_out;  // per user, -1 when none
};

// Samples an index from a cumulative weight table.
uint32_t Draw(const std::vector<double>& cumulative, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, cumulative.back());
  auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u(rng));
  return static_cast<uint32_t>(std::min<size_t>(it - cumulative.begin(), cumulative.size() - 1));
}

Dataset Generate(const Shape& s, uint64_t seed) {
  constexpr int kTopics = 32;
  constexpr uint32_t kMinPerUser = 20;
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> order(s.items);
  for (uint32_t i = 0; i < s.items; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<double> popularity(s.items);
  std::vector<int> topic(s.items);
  for (uint32_t r = 0; r < s.items; ++r) popularity[order[r]] = 1.0 / std::pow(r + 10.0, 0.9);
  for (uint32_t i = 0; i < s.items; ++i) topic[i] = static_cast<int>(rng() % kTopics);
  std::vector<double> global(s.items);
  std::vector<std::vector<uint32_t>> topic_items(kTopics);
  std::vector<std::vector<double>> topic_cumulative(kTopics);
  double acc = 0;
  for (uint32_t i = 0; i < s.items; ++i) {
    global[i] = acc += popularity[i];
    topic_items[topic[i]].push_back(i);
    double prev = topic_cumulative[topic[i]].empty() ? 0 : topic_cumulative[topic[i]].back();
    topic_cumulative[topic[i]].push_back(prev + popularity[i]);
  }

  // Activity: floor + log-normal share of the rest, capped, rounded to hit nnz exactly.
  const uint32_t cap = s.items / 4;
  std::lognormal_distribution<double> activity(0.0, 1.1);
  std::vector<double> weight(s.users);
  double total_weight = 0;
  for (auto& w : weight) total_weight += w = activity(rng);
  std::vector<uint32_t> count(s.users);
  uint64_t assigned = 0;
  const double spare = static_cast<double>(s.nnz - uint64_t{s.users} * kMinPerUser);
  for (uint32_t u = 0; u < s.users; ++u) {
    count[u] = std::min<uint32_t>(cap, kMinPerUser + static_cast<uint32_t>(spare * weight[u] / total_weight));
    assigned += count[u];
  }
  for (uint32_t u = 0; assigned < s.nnz; u = (u + 1) % s.users)
    if (count[u] < cap) ++count[u], ++assigned;

  std::vector<Triplet> triplets;
  triplets.reserve(s.nnz);
  Dataset d;
  d.held_out.assign(s.users, -1);
  std::vector<char> taken(s.items, 0);
  std::vector<uint32_t> mine;
  std::bernoulli_distribution home(0.75);
  for (uint32_t u = 0; u < s.users; ++u) {
    int t = static_cast<int>(rng() % kTopics);
    mine.clear();
    while (mine.size() < count[u] + 1) {
      uint32_t item = home(rng) ? topic_items[t][Draw(topic_cumulative[t], rng)] : Draw(global, rng);
      for (int tries = 0; taken[item] && tries < 8; ++tries) item = Draw(global, rng);
      while (taken[item]) item = static_cast<uint32_t>(rng() % s.items);
      taken[item] = 1;
      mine.push_back(item);
    }
    for (uint32_t item : mine) taken[item] = 0;
    d.held_out[u] = mine.back();
    mine.pop_back();
    for (uint32_t item : mine) triplets.push_back({u, item, 1.0f});
  }
  d.train = CsrMatrix::FromTriplets(s.users, s.items, std::move(triplets));
  return d;
}

// Share of (sampled) users whose held-out item ranks in the top k among items they have not
// trained on, scored by `score(u, scores)`.
template <typename ScoreFn>
double HitRate(const Dataset& d, uint32_t k, uint32_t max_users, ScoreFn score) {
  const uint32_t items = d.train.cols;
  std::vector<float> s(items);
  uint32_t users = 0, hits = 0;
  const uint32_t stride = std::max<uint32_t>(1, d.train.rows / max_users);
  for (uint32_t u = 0; u < d.train.rows; u += stride) {
    if (d.held_out[u] < 0) continue;
    score(u, s);
    for (uint32_t i : d.train.RowIndices(u)) s[i] = -INFINITY;
    float target = s[d.held_out[u]];
    uint32_t above = 0;
    for (uint32_t i = 0; i < items; ++i) above += s[i] > target;
    hits += above < k;
    ++users;
  }
  return users == 0 ? 0 : static_cast<double>(hits) / users;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--shape small|large|both] [--runs N] [--large-runs N] [--threads N]\n"
               "          [--factors N] [--iterations N] [--cg-steps N] [--alpha X] [--reg X]\n",
               argv0);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string which = "both";
  int runs = 3, large_runs = 1;
  IalsOptions opt;
  opt.factors = 64;
  opt.iterations = 15;
  opt.threads = 2;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return Usage(argv[0]);
    const char* v = argv[++i];
    if (a == "--shape") which = v;
    else if (a == "--runs") runs = std::atoi(v);
    else if (a == "--large-runs") large_runs = std::atoi(v);
    else if (a == "--threads") opt.threads = std::atoi(v);
    else if (a == "--factors") opt.factors = std::atoi(v);
    else if (a == "--iterations") opt.iterations = std::atoi(v);
    else if (a == "--cg-steps") opt.cg_steps = std::atoi(v);
    else if (a == "--alpha") opt.alpha = std::atof(v);
    else if (a == "--reg") opt.regularization = std::atof(v);
    else return Usage(argv[0]);
  }
  std::printf("iALS: %d factors, %d iterations, %d CG steps, %d threads, alpha %g, reg %g\n",
              opt.factors, opt.iterations, opt.cg_steps, opt.threads, opt.alpha,
              opt.regularization);
  for (const Shape& shape : kShapes) {
    if (which != "both" && which != shape.name) continue;
    Dataset d = Generate(shape, 7);
    std::printf("%s: %u users x %u items, %llu entries\n", shape.name, d.train.rows, d.train.cols,
                static_cast<unsigned long long>(d.train.nnz()));
    std::fflush(stdout);
    const int n = shape.nnz > 1000000 ? large_runs : runs;
    std::vector<double> seconds;
    IalsModel model;
    for (int r = 0; r < n; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      std::clock_t c0 = std::clock();
      auto trained = funnel::retrieval::TrainIals(d.train, opt);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
      if (!trained.ok()) {
        std::fprintf(stderr, "training failed: %s\n", trained.status().ToString().c_str());
        return 1;
      }
      model = std::move(*trained);
      seconds.push_back(s);
      // CPU time shows how much of the wall time was spent waiting for a shared core.
      std::printf("  run %d: %.3f s wall, %.3f s cpu\n", r + 1, s, cpu);
      std::fflush(stdout);
    }
    std::printf("  %s: median %.3f s over %d run(s); reference implicit 0.7.3: %.1f s (ratio %.2fx)\n",
                shape.name, Median(seconds), n, shape.reference_seconds,
                shape.reference_seconds / Median(seconds));
    std::vector<float> popularity(d.train.cols, 0);
    for (uint32_t i : d.train.indices) popularity[i] += 1;
    double pop = HitRate(d, 20, 3000, [&](uint32_t, std::vector<float>& s) { s = popularity; });
    double ials = HitRate(d, 20, 3000, [&](uint32_t u, std::vector<float>& s) {
      Eigen::Map<Eigen::VectorXf>(s.data(), s.size()) =
          model.item_factors * model.user_factors.row(u).transpose();
    });
    std::printf("  held-out hit rate@20: iALS %.3f, popularity %.3f\n", ials, pop);
    std::fflush(stdout);
  }
  return 0;
}
