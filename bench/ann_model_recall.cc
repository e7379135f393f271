// ANN recall@100 on a trained model's own item vectors (the target: >= 0.95 against
// brute force at the configured ef). ann_bench measures the index on synthetic topic vectors;
// this measures it where it serves: the iALS item factors of a model trained on a synthetic
// platform, queried with
//   user      the fold-in vectors of real users (IalsSource::UserVector), unfiltered;
//   user+excl the same with the request's filter (items the user touched are excluded), as
//             IalsSource::Retrieve searches;
//   item      item-to-item: the vectors of random catalog items (items with a zero vector,
//             never seen in training, are not queried).
// Recall@100 = |HNSW top 100 ∩ exact top 100| / 100 (exact: BuildExactIndex on the same
// vectors with the same filter), at the configured ef (AnnOptions::ef_search) and others.
//
// Each index configuration (every combination of the --m, --ef-construction and --norm-shards
// lists; defaults: AnnOptions') is built from the trained item vectors with BuildVectorIndex,
// as IalsSource builds its own; the first combination is also the one the model trains with.
//
//   build/bench/ann_model_recall [--work DIR] [--users 5000 --items 20000 --days 30 --seed 42]
//       [--queries 1000] [--ef 50,100,200,400] [--k 100] [--m 16] [--ef-construction 200]
//       [--norm-shards 4] [--threads 0]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "funnel/core/logging.h"
#include "funnel/retrieval/cf_sources.h"
#include "funnel/retrieval/training_set.h"
#include "funnel/training/retrieval_trainer.h"
#include "synthetic_platform.h"

namespace {

using namespace funnel;
using namespace funnel::retrieval;
using Clock = std::chrono::steady_clock;

struct Query {
  std::vector<float> vector;
  const UserState* state = nullptr;  // set: search with the user's exclusion filter
};

struct Result {
  double recall = 0, min_recall = 1, below_90 = 0;  // mean, worst, share of queries under 0.9
  double p50_ms = 0, p99_ms = 0, cpu_mean_ms = 0;
};

Result Measure(const VectorIndex& index, const VectorIndex& exact, const std::vector<Query>& queries, size_t k, int ef,
               std::vector<std::vector<Neighbor>>* truth) {
  Result r;
  std::vector<double> ms;
  double cpu = 0;
  std::vector<std::vector<Neighbor>> got;
  // The exact answers first, in a pass of their own: a scan between two timed searches would
  // evict the graph's nodes from the cache and time the first ef measured cold.
  if (truth->empty())
    for (const Query& query : queries) {
      SearchParams sp;
      sp.k = k;
      if (query.state != nullptr) sp.filter = [st = query.state](uint32_t item) { return !st->Excluded(item); };
      exact.Search(query.vector, 1, sp, &got);
      truth->push_back(got[0]);
    }
  for (size_t q = 0; q < queries.size(); ++q) {
    SearchParams sp;
    sp.k = k;
    sp.ef = ef;
    const UserState* st = queries[q].state;
    if (st != nullptr) sp.filter = [st](uint32_t item) { return !st->Excluded(item); };
    const double c0 = bench::ThreadCpuSeconds();
    const auto t0 = Clock::now();
    index.Search(queries[q].vector, 1, sp, &got);
    ms.push_back(std::chrono::duration<double>(Clock::now() - t0).count() * 1e3);
    cpu += bench::ThreadCpuSeconds() - c0;
    absl::flat_hash_set<uint32_t> want;
    for (const Neighbor& n : (*truth)[q]) want.insert(n.id);
    size_t hits = 0;
    for (const Neighbor& n : got[0]) hits += want.contains(n.id);
    const double rec = want.empty() ? 1.0 : static_cast<double>(hits) / static_cast<double>(want.size());
    r.recall += rec;
    r.min_recall = std::min(r.min_recall, rec);
    r.below_90 += rec < 0.9;
  }
  const auto n = static_cast<double>(queries.size());
  r.recall /= n;
  r.below_90 /= n;
  r.cpu_mean_ms = cpu * 1e3 / n;
  std::sort(ms.begin(), ms.end());
  r.p50_ms = ms[ms.size() / 2];
  r.p99_ms = ms[std::min(ms.size() - 1, static_cast<size_t>(0.99 * n))];
  return r;
}

// The scan's p50 wall ms and mean CPU ms per query.
std::pair<double, double> ExactLatencyMs(const VectorIndex& exact, const std::vector<Query>& queries, size_t k) {
  std::vector<double> ms;
  double cpu = 0;
  std::vector<std::vector<Neighbor>> got;
  for (const Query& q : queries) {
    SearchParams sp;
    sp.k = k;
    if (q.state != nullptr) sp.filter = [st = q.state](uint32_t item) { return !st->Excluded(item); };
    const double c0 = bench::ThreadCpuSeconds();
    const auto t0 = Clock::now();
    exact.Search(q.vector, 1, sp, &got);
    ms.push_back(std::chrono::duration<double>(Clock::now() - t0).count() * 1e3);
    cpu += bench::ThreadCpuSeconds() - c0;
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], cpu * 1e3 / static_cast<double>(queries.size())};
}

}  // namespace

int main(int argc, char** argv) {
  bench::PlatformOptions popt;
  std::vector<std::string> rest;
  if (!bench::ParsePlatformFlags(argc, argv, &popt, &rest)) return 2;
  size_t num_queries = 1000, k = 100;
  std::vector<int> efs = {50, 100, 200, 400};
  const AnnOptions defaults;
  std::vector<int> ms = {defaults.m}, efcs = {defaults.ef_construction}, shard_counts = {defaults.norm_shards};
  int threads = defaults.threads;
  auto int_list = [](const std::string& text) {
    std::vector<int> out;
    std::stringstream list(text);
    for (std::string e; std::getline(list, e, ',');) out.push_back(std::stoi(e));
    return out;
  };
  for (size_t i = 0; i + 1 < rest.size(); i += 2) {
    if (rest[i] == "--queries") num_queries = std::stoul(rest[i + 1]);
    else if (rest[i] == "--k") k = std::stoul(rest[i + 1]);
    else if (rest[i] == "--ef") efs = int_list(rest[i + 1]);
    else if (rest[i] == "--m") ms = int_list(rest[i + 1]);
    else if (rest[i] == "--ef-construction") efcs = int_list(rest[i + 1]);
    else if (rest[i] == "--norm-shards") shard_counts = int_list(rest[i + 1]);
    else if (rest[i] == "--threads") threads = std::stoi(rest[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", rest[i].c_str());
      return 2;
    }
  }
  (void)SetLogLevel("warn");
  auto platform = bench::OpenPlatform(popt);
  if (!platform.ok()) {
    std::fprintf(stderr, "%s\n", std::string(MessageOf(platform.status())).c_str());
    return 1;
  }
  store::EventStore& store = *platform->store;
  const store::StoreStats stats = store.Stats();
  const Timestamp now = Timestamp::FromMicros(stats.last_ts->micros() + 1);
  training::RetrievalTrainOptions topt;
  topt.tune = false;
  topt.sources = {"ials"};
  std::vector<AnnOptions> configs;
  for (int m : ms)
    for (int efc : efcs)
      for (int shards : shard_counts) {
        AnnOptions a = defaults;
        a.m = m;
        a.ef_construction = efc;
        a.norm_shards = shards;
        a.threads = threads;
        a.exact_below = 0;  // measure the graph even where the default would choose a scan
        configs.push_back(a);
      }
  if (configs.empty()) {
    std::fprintf(stderr, "empty --m, --ef-construction or --norm-shards list\n");
    return 2;
  }
  topt.ann = configs[0];
  topt.ann.exact_below = defaults.exact_below;
  const EventsConfig events;
  auto trained = training::TrainRetrieval(store, events, now, topt);
  if (!trained.ok()) {
    std::fprintf(stderr, "%s\n", std::string(MessageOf(trained.status())).c_str());
    return 1;
  }
  const auto& ials = dynamic_cast<const IalsSource&>(*trained->slots[0].source);
  const FactorMatrix& items = ials.model().item_factors;
  const auto exact = BuildExactIndex(std::span<const float>(items.data(), items.size()), static_cast<uint32_t>(items.rows()),
                                     ials.model().factors());

  std::mt19937_64 rng(11);
  std::vector<uint32_t> users(store.NumUsers());
  for (uint32_t u = 0; u < users.size(); ++u) users[u] = u;
  std::shuffle(users.begin(), users.end(), rng);
  StrengthRule rule(store, events, trained->data);
  std::vector<UserState> states;
  std::vector<Query> user_queries, filtered_queries, item_queries;
  for (uint32_t u : users) {
    if (user_queries.size() >= num_queries) break;
    auto st = BuildUserState(store, rule, UserIdx{u}, now, trained->data.recent_items);
    if (!st.ok()) return 1;
    std::vector<float> v = ials.UserVector(*st);
    if (v.empty()) continue;  // no usable history: the source returns nothing for this user
    states.push_back(std::move(*st));
    user_queries.push_back({v, nullptr});
  }
  for (size_t q = 0; q < states.size(); ++q) filtered_queries.push_back({user_queries[q].vector, &states[q]});
  std::vector<uint32_t> nonzero;
  for (uint32_t i = 0; i < items.rows(); ++i)
    if (items.row(i).squaredNorm() > 0) nonzero.push_back(i);
  std::shuffle(nonzero.begin(), nonzero.end(), rng);
  for (size_t q = 0; q < std::min(num_queries, nonzero.size()); ++q) {
    auto row = items.row(nonzero[q]);
    item_queries.push_back({std::vector<float>(row.data(), row.data() + row.size()), nullptr});
  }
  double excluded = 0;
  for (const UserState& st : states) excluded += static_cast<double>(st.exclude.size());

  std::printf("## ANN recall@%zu on the model's own item vectors (ann_model_recall)\n\n", k);
  std::printf("- machine: %s\n", bench::MachineLine().c_str());
  std::printf("- platform: %u users x %u items x %u days, seed %llu (%llu events); iALS (TrainRetrieval, tune=false) "
              "%d factors, %lld item vectors (%zu non-zero), trained index: %s, configured ef_search %d\n",
              popt.users, popt.items, popt.days, static_cast<unsigned long long>(popt.seed),
              static_cast<unsigned long long>(stats.events), ials.model().factors(), static_cast<long long>(items.rows()),
              nonzero.size(), ials.index().exact() ? "EXACT (not HNSW)" : "HNSW", topt.ann.ef_search);
  std::printf("- queries: %zu fold-in user vectors (random users with usable history; %.0f excluded items each on "
              "average for user+excl), %zu item vectors\n\n",
              user_queries.size(), excluded / static_cast<double>(std::max<size_t>(1, states.size())), item_queries.size());
  // Exact results per query set, computed once and shared by every configuration.
  std::vector<std::vector<std::vector<Neighbor>>> truths(3);
  std::printf("| index | queries | ef | recall@%zu | worst query | queries < 0.9 | p50 ms | p99 ms | CPU mean ms |\n", k);
  std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  struct Set {
    const char* name;
    const std::vector<Query>* queries;
  };
  const Set sets[] = {{"user", &user_queries}, {"user+excl", &filtered_queries}, {"item", &item_queries}};
  std::vector<std::string> build_lines;
  for (const AnnOptions& ann : configs) {
    const auto t0 = Clock::now();
    auto index = BuildVectorIndex(std::span<const float>(items.data(), items.size()), static_cast<uint32_t>(items.rows()),
                                  ials.model().factors(), ann);
    if (!index.ok()) {
      std::fprintf(stderr, "%s\n", std::string(MessageOf(index.status())).c_str());
      return 1;
    }
    const double build_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const std::string name = Cat("M ", ann.m, ", efc ", ann.ef_construction, ", shards ", ann.norm_shards);
    build_lines.push_back(Cat(name, ": build ", build_s, " s wall"));
    for (size_t s = 0; s < 3; ++s)
      for (int ef : efs) {
        Result r = Measure(**index, *exact, *sets[s].queries, k, ef, &truths[s]);
        std::printf("| %s | %s | %d%s | %.4f | %.2f | %.1f%% | %.3f | %.3f | %.3f |\n", name.c_str(), sets[s].name, ef,
                    ef == ann.ef_search ? " (configured)" : "", r.recall, r.min_recall, 100 * r.below_90, r.p50_ms,
                    r.p99_ms, r.cpu_mean_ms);
        std::fflush(stdout);
      }
  }
  for (const Set& set : sets) {
    const auto [p50, cpu] = ExactLatencyMs(*exact, *set.queries, k);
    std::printf("| exact | %s | | 1 | | | %.3f | | %.3f |\n", set.name, p50, cpu);
  }
  std::printf("\n");
  for (const std::string& line : build_lines) std::printf("- %s\n", line.c_str());
  std::printf("\n- machine at the end: %s\n", bench::MachineLine().c_str());
  return 0;
}
