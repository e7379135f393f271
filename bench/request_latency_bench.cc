// One request through the whole serving path, single-threaded: RequestPipeline::Recommend with
// the model `funnel train` would register (retrieval, the ranker over retrieval's and the
// feature store's features, the shipped re-rank steps), k = 20, at the data's present. The
// issue's target: retrieval + features for the candidates + ranking + re-ranking ≤ 2 ms median,
// p99 reported.
//
// Set-up, not timed: a synthetic platform (default 2000 users x 3000 items x 14 days), a model
// trained on all of it with TrainRetrieval (shipped options, tuning on, the shipped features),
// registered and loaded back; one warm-up request (it replays the store into the pipeline's
// feature fold, once per process). Timed: every sampled user once per pass, wall and thread CPU
// per request; the user's state is read from the event store inside the request, as serving
// does.
//
//   build/bench/request_latency_bench [--work DIR] [--users 2000 --items 3000 --days 14 --seed 1]
//       [--sample 500] [--passes 3]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "funnel/core/logging.h"
#include "funnel/model/model_registry.h"
#include "funnel/retrieval/source_registry.h"
#include "funnel/serving/request_pipeline.h"
#include "funnel/training/retrieval_trainer.h"
#include "synthetic_platform.h"

using namespace funnel;

namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  bench::PlatformOptions popt{.dir = "", .users = 2000, .items = 3000, .days = 14, .seed = 1};
  std::vector<std::string> rest;
  if (!bench::ParsePlatformFlags(argc, argv, &popt, &rest)) return 2;
  size_t sample = 500, passes = 3;
  for (size_t i = 0; i + 1 < rest.size(); i += 2) {
    if (rest[i] == "--sample") sample = std::stoul(rest[i + 1]);
    else if (rest[i] == "--passes") passes = std::stoul(rest[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", rest[i].c_str());
      return 2;
    }
  }
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "%s\n", std::string(MessageOf(s)).c_str());
    return 1;
  };
  (void)SetLogLevel("warn");
  auto platform = bench::OpenPlatform(popt);
  if (!platform.ok()) return fail(platform.status());
  store::EventStore& store = *platform->store;
  training::RetrievalTrainOptions topt;
  topt.store_features = features::DefaultFeatureSpecs();
  auto trained = training::TrainRetrieval(store, EventsConfig{}, Timestamp::Max(), topt);
  if (!trained.ok()) return fail(trained.status());
  auto sources = std::make_shared<const retrieval::SourceRegistry>(retrieval::BuiltinSources());
  auto registry = model::ModelRegistry::Open(platform->dir, sources);
  if (!registry.ok()) return fail(registry.status());
  if (auto v = registry->Register(*trained, store); !v.ok()) return fail(v.status());
  auto loaded = registry->LoadCurrent();
  if (!loaded.ok()) return fail(loaded.status());
  serving::ModelHandle handle(*loaded);
  serving::RequestPipeline pipeline(store, handle, EventsConfig{}, topt.rerank, topt.store_features);

  std::vector<uint32_t> users(store.NumUsers());
  std::iota(users.begin(), users.end(), 0u);
  std::mt19937_64 rng(5);
  std::shuffle(users.begin(), users.end(), rng);
  users.resize(std::min(sample, users.size()));
  const auto warm_start = std::chrono::steady_clock::now();
  if (auto r = pipeline.Recommend({.user = store.UserName(UserIdx{users[0]}), .k = 20}); !r.ok()) return fail(r.status());
  const double warm = std::chrono::duration<double>(std::chrono::steady_clock::now() - warm_start).count();

  std::vector<double> wall, cpu;
  size_t candidates = 0;
  for (size_t pass = 0; pass < passes; ++pass)
    for (uint32_t u : users) {
      const std::string user = store.UserName(UserIdx{u});
      const double c0 = bench::ThreadCpuSeconds();
      const auto t0 = std::chrono::steady_clock::now();
      auto r = pipeline.Recommend({.user = user, .k = 20});
      const auto t1 = std::chrono::steady_clock::now();
      const double c1 = bench::ThreadCpuSeconds();
      if (!r.ok()) return fail(r.status());
      candidates += r->candidates;
      wall.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      cpu.push_back((c1 - c0) * 1e3);
    }
  std::printf("## One request through the serving path (request_latency_bench)\n\n");
  std::printf("- machine: %s\n", bench::MachineLine().c_str());
  std::printf("- platform: %u users x %u items x %u days, seed %llu; model trained in %.0f s; ranking: %s\n", popt.users,
              popt.items, popt.days, static_cast<unsigned long long>(popt.seed), trained->seconds,
              trained->ranking_verdict.c_str());
  std::printf("- ranker: %s; re-rank steps:", (*loaded)->ranker() ? (*loaded)->ranker()->kind().c_str() : "none (fusion)");
  for (const std::string& s : topt.rerank.steps) std::printf(" %s", s.c_str());
  std::printf("; %.0f candidates per request on average; first request (feature fold replay) %.2f s\n",
              static_cast<double>(candidates) / static_cast<double>(wall.size()), warm);
  std::printf("\n| %zu requests (%zu users x %zu passes) | p50 | p90 | p99 | max |\n| --- | ---: | ---: | ---: | ---: |\n",
              wall.size(), users.size(), passes);
  std::printf("| wall ms | %.3f | %.3f | %.3f | %.3f |\n", Percentile(wall, 0.5), Percentile(wall, 0.9),
              Percentile(wall, 0.99), Percentile(wall, 1.0));
  std::printf("| thread CPU ms | %.3f | %.3f | %.3f | %.3f |\n", Percentile(cpu, 0.5), Percentile(cpu, 0.9),
              Percentile(cpu, 0.99), Percentile(cpu, 1.0));
  std::printf("\n- machine at the end: %s\n", bench::MachineLine().c_str());
  return 0;
}
