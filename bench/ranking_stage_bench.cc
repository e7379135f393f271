// The ranking and re-ranking stages of one request, one thread: what a request adds after
// retrieval (retrieval itself: retrieval_latency_bench). 500 candidates from 6 sources with
// random scores and found bits, a ranker of 200 trees of depth 6 (XGBoost binary:logistic on
// random rows of the same 23 features, trained once, not timed), then the shipped re-rank steps
// (filter, caps) and mmr. Timed, one request per iteration:
//   features        ComputeCandidateRows over the 500 candidates (the fused order included)
//   rank            RankCandidates: features, tree scoring of the top `depth` rows, ordering
//   rank+rerank     the same, then Reranker::Apply (filter, caps) on the top 100 → 20
//   rank+rerank+mmr the same with mmr before caps
// The targets: re-ranking 500 → 20 ≤ 0.1 ms; retrieval + features + ranking +
// re-ranking ≤ 2 ms median.
//
//   build/bench/ranking_stage_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "funnel/ranking/candidate_ranker.h"
#include "funnel/ranking/rerank.h"
#include "funnel/ranking/xgboost_trainer.h"
#include "funnel/retrieval/popularity.h"

namespace {

using namespace funnel;

constexpr size_t kCandidates = 500, kSources = 6, kItems = 20000;

struct Setup {
  retrieval::CandidateSet set;
  retrieval::UserState user;
  std::unique_ptr<retrieval::Merger> merger;
  std::shared_ptr<const ranking::CandidateRanker> ranker;
  ranking::ItemFacts facts{kItems};

  Setup() {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0, 1);
    std::vector<retrieval::SourceSlot> slots;
    std::vector<std::string> names;
    for (size_t s = 0; s < kSources; ++s) {
      names.push_back("s" + std::to_string(s));
      slots.push_back({retrieval::PopularitySource::FromScores(names.back(), std::vector<float>(kItems, 0)), 100,
                       0.5 + static_cast<double>(s)});
    }
    merger = std::make_unique<retrieval::Merger>(slots);
    set.sources = kSources;
    for (size_t j = 0; j < kCandidates; ++j) {
      set.items.push_back(static_cast<uint32_t>(j * 37 % kItems));
      set.found_by.push_back(1u << (j % kSources));
      for (size_t s = 0; s < kSources; ++s) set.scores.push_back(u(rng));
    }
    user.items.resize(40);
    user.recent.resize(20);
    for (uint32_t i = 0; i < kItems; ++i)
      facts.Set(i, "c" + std::to_string(i % 18), "r" + std::to_string(i % 300), i % 50 == 0);

    const std::vector<std::string> features = ranking::CandidateFeatureNames(names);
    const size_t cols = features.size(), rows = 20000;
    std::vector<float> x(rows * cols), y(rows);
    for (size_t i = 0; i < rows; ++i) {
      double sum = 0;
      for (size_t f = 0; f < cols; ++f) sum += (x[i * cols + f] = u(rng)) * (f % 3 == 0 ? 1 : -0.5);
      y[i] = sum + u(rng) > 0.3 * static_cast<double>(cols) / 2 ? 1.0f : 0.0f;
    }
    ranking::XgboostTrainOptions o;
    o.params = {{"objective", "binary:logistic"}, {"max_depth", "6"}, {"eta", "0.1"}};
    o.num_boost_round = 200;
    auto b = ranking::XgboostBooster::Train({{x, rows, cols}, y, {}, {}}, nullptr, o);
    if (!b.ok()) std::abort();
    auto json = b->SaveJson();
    auto r = ranking::CandidateRanker::Create("gbdt", *json, features, 200);
    if (!r.ok()) std::abort();
    ranker = *r;
  }
};

const Setup& Get() {
  static const Setup s;
  return s;
}

void BM_Features(benchmark::State& state) {
  const Setup& s = Get();
  ranking::CandidateRows rows;
  for (auto _ : state) {
    ranking::ComputeCandidateRows(s.set, s.user, *s.merger, 200, &rows);
    benchmark::DoNotOptimize(rows.values.data());
  }
}

void RankAndRerank(benchmark::State& state, const std::vector<std::string>& steps) {
  const Setup& s = Get();
  auto rerank = ranking::Reranker::Create({.steps = steps});
  if (!rerank.ok()) std::abort();
  ranking::CandidateRows rows;
  for (auto _ : state) {
    auto top = ranking::RankCandidates(s.set, s.user, *s.merger, s.ranker.get(), steps.empty() ? 20 : 100, &rows);
    if (!steps.empty()) rerank->Apply(s.facts, {.k = 20, .seed = 7}, &*top);
    benchmark::DoNotOptimize(top->data());
  }
}

void BM_Rank(benchmark::State& state) { RankAndRerank(state, {}); }
void BM_RankRerank(benchmark::State& state) { RankAndRerank(state, {"filter", "caps"}); }
void BM_RankRerankMmr(benchmark::State& state) { RankAndRerank(state, {"filter", "mmr", "caps"}); }

void BM_RerankOnly(benchmark::State& state) {
  const Setup& s = Get();
  auto rerank = ranking::Reranker::Create({.steps = {"filter", "mmr", "caps"}});
  ranking::CandidateRows rows;
  auto ranked = ranking::RankCandidates(s.set, s.user, *s.merger, s.ranker.get(), kCandidates, &rows);
  for (auto _ : state) {
    std::vector<retrieval::Candidate> list = *ranked;
    rerank->Apply(s.facts, {.k = 20, .seed = 7}, &list);
    benchmark::DoNotOptimize(list.data());
  }
}

BENCHMARK(BM_Features)->Name("features")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Rank)->Name("rank")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RankRerank)->Name("rank+rerank")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RankRerankMmr)->Name("rank+rerank+mmr")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RerankOnly)->Name("rerank 500->20 (filter, mmr, caps)")->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
