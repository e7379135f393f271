// Vector index benchmark: build time of the HNSW graph (1 and 2 threads), query latency for
// top-100 and recall@100 against the exact index, and exact-search latency, on item vectors
// with latent-topic structure like trained factors (random gaussian vectors would understate
// recall). Prints a Markdown table.
//
//   build/bench/ann_bench [--items 100000] [--dim 64] [--queries 1000] [--threads 1,2] [--ef 200]
//                         [--topics 32] [--noise 0.4] [--m 16] [--ef-construction 200] [--norm-shards N]
// (--norm-shards defaults to AnnOptions').
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "funnel/retrieval/vector_index.h"

using namespace funnel::retrieval;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// CPU time, reported beside wall time because the benchmark machine is shared: on a busy
// machine wall time includes waiting for a core, CPU time does not.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Same recipe as tests/retrieval/vector_index_test.cc: noisy mixes of two of `topics` latent
// topics, with lognormal norms.
std::vector<float> TopicVectors(uint32_t num, int dim, int topics, float noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0, 1);
  std::uniform_int_distribution<int> topic(0, topics - 1);
  std::uniform_real_distribution<float> mix(0.5f, 1.0f);
  std::lognormal_distribution<float> norm(0, 0.3f);
  std::vector<float> centers(size_t(topics) * dim);
  for (float& c : centers) c = gauss(rng);
  std::vector<float> out(size_t(num) * dim);
  for (uint32_t i = 0; i < num; ++i) {
    int a = topic(rng), b = topic(rng);
    float w = mix(rng), scale = norm(rng);
    for (int d = 0; d < dim; ++d)
      out[size_t(i) * dim + d] =
          scale * (w * centers[size_t(a) * dim + d] + (1 - w) * centers[size_t(b) * dim + d] + noise * gauss(rng));
  }
  return out;
}

struct Latency {
  double median_ms, p99_ms, cpu_median_ms;
};

// Queries one at a time, as serving does.
Latency TimeQueries(const VectorIndex& index, std::span<const float> queries, uint32_t n, int dim,
                    const SearchParams& params, std::vector<std::vector<Neighbor>>* results) {
  std::vector<double> ms(n), cpu_ms(n);
  results->resize(n);
  std::vector<std::vector<Neighbor>> one;
  for (uint32_t q = 0; q < n; ++q) {
    auto start = Clock::now();
    double cpu_start = ThreadCpuSeconds();
    index.Search(queries.subspan(size_t(q) * dim, dim), 1, params, &one);
    cpu_ms[q] = (ThreadCpuSeconds() - cpu_start) * 1e3;
    ms[q] = Seconds(start) * 1e3;
    (*results)[q] = std::move(one[0]);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  return {ms[n / 2], ms[std::min<size_t>(n - 1, size_t(n * 0.99))], cpu_ms[n / 2]};
}

double Recall(const std::vector<std::vector<Neighbor>>& got, const std::vector<std::vector<Neighbor>>& truth) {
  size_t hits = 0, total = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    std::set<uint32_t> want;
    for (const Neighbor& nb : truth[q]) want.insert(nb.id);
    for (const Neighbor& nb : got[q]) hits += want.count(nb.id);
    total += truth[q].size();
  }
  return double(hits) / double(total);
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t items = 100000, queries = 1000;
  int dim = 64, ef = 200, topics = 32, m = 16, ef_construction = 200, norm_shards = AnnOptions{}.norm_shards;
  float noise = 0.4f;
  std::vector<int> thread_counts = {1, 2};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--items") items = std::stoul(value);
    else if (flag == "--dim") dim = std::stoi(value);
    else if (flag == "--queries") queries = std::stoul(value);
    else if (flag == "--ef") ef = std::stoi(value);
    else if (flag == "--topics") topics = std::stoi(value);
    else if (flag == "--noise") noise = std::stof(value);
    else if (flag == "--m") m = std::stoi(value);
    else if (flag == "--ef-construction") ef_construction = std::stoi(value);
    else if (flag == "--norm-shards") norm_shards = std::stoi(value);
    else if (flag == "--threads") {
      thread_counts.clear();
      std::stringstream list(value);
      for (std::string t; std::getline(list, t, ',');) thread_counts.push_back(std::stoi(t));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::vector<float> all = TopicVectors(items + queries, dim, topics, noise, 42);
  std::span<const float> item_vectors(all.data(), size_t(items) * dim);
  std::span<const float> query_vectors(all.data() + item_vectors.size(), size_t(queries) * dim);
  std::printf("%u items x %d-d vectors (%d topics, noise %.2f), %u queries, M=%d, ef_construction=%d, norm shards %d, "
              "top-100\n\n",
              items, dim, topics, noise, queries, m, ef_construction, norm_shards);

  auto exact = BuildExactIndex(item_vectors, items, dim);
  std::vector<std::vector<Neighbor>> truth;
  Latency exact_latency = TimeQueries(*exact, query_vectors, queries, dim, {.k = 100}, &truth);

  std::unique_ptr<VectorIndex> graph;
  std::printf("| measure | value |\n| --- | --- |\n");
  for (int threads : thread_counts) {
    AnnOptions options{.m = m, .ef_construction = ef_construction, .ef_search = ef, .norm_shards = norm_shards,
                       .exact_below = 0, .threads = threads};
    auto start = Clock::now();
    double cpu_start = ProcessCpuSeconds();
    auto built = BuildVectorIndex(item_vectors, items, dim, options);
    double seconds = Seconds(start), cpu = ProcessCpuSeconds() - cpu_start;
    if (!built.ok()) {
      std::fprintf(stderr, "%s\n", std::string(funnel::MessageOf(built.status())).c_str());
      return 1;
    }
    std::printf("| HNSW build, %d thread%s: wall (CPU) | %.1f s (%.1f s) |\n", threads, threads == 1 ? "" : "s", seconds,
                cpu);
    graph = std::move(*built);
  }
  for (int e : {100, ef, 400}) {  // ef below k=100 is raised to 100
    std::vector<std::vector<Neighbor>> got;
    Latency l = TimeQueries(*graph, query_vectors, queries, dim, {.k = 100, .ef = e}, &got);
    std::printf("| HNSW top-100, ef=%d: median / p99 latency (median CPU), recall@100 | %.3f / %.3f ms (%.3f), %.4f |\n",
                e, l.median_ms, l.p99_ms, l.cpu_median_ms, Recall(got, truth));
  }
  std::printf("| exact top-100: median / p99 latency (median CPU) | %.3f / %.3f ms (%.3f) |\n", exact_latency.median_ms,
              exact_latency.p99_ms, exact_latency.cpu_median_ms);

  // Filtered search: a user who consumed 5% of the catalog.
  std::mt19937_64 rng(9);
  std::vector<char> consumed(items, 0);
  for (uint32_t i = 0; i < items / 20; ++i) consumed[rng() % items] = 1;
  auto allowed = [&](uint32_t id) { return consumed[id] == 0; };
  std::vector<std::vector<Neighbor>> got, filtered_truth;
  TimeQueries(*exact, query_vectors, queries, dim, {.k = 100, .filter = allowed}, &filtered_truth);
  Latency l = TimeQueries(*graph, query_vectors, queries, dim, {.k = 100, .ef = ef, .filter = allowed}, &got);
  std::printf("| HNSW top-100, ef=%d, 5%% of items filtered out: median / p99 (median CPU), recall@100 | %.3f / %.3f ms (%.3f), %.4f |\n",
              ef, l.median_ms, l.p99_ms, l.cpu_median_ms, Recall(got, filtered_truth));

  std::string path = (std::filesystem::temp_directory_path() / "ann_bench_index.fvi").string();
  auto start = Clock::now();
  if (!graph->Save(path).ok()) return 1;
  double save = Seconds(start);
  start = Clock::now();
  auto loaded = LoadVectorIndex(path);
  double load = Seconds(start);
  if (!loaded.ok()) return 1;
  std::printf("| index file: size, save, load (checksum + validation) | %.1f MB, %.2f s, %.2f s |\n",
              std::filesystem::file_size(path) / 1e6, save, load);
  std::filesystem::remove(path);
  return 0;
}
