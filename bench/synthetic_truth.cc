// How close each retrieval source, the fused list and the full pipeline's list (ranker and
// re-rank steps) get to the generator's ground truth.
//
// A synthetic platform (`funnel generate`) knows every user's true affinity for every item
// (docs/formats/generator-truth.md). The model is trained with TrainRetrieval on the events
// before a cutoff day; then, for a random sample of users with history before the cutoff, each
// source's top 20 (Retrieve), the fused top 20 (Merger with the trained quotas and weights) and
// the merged candidate set are compared with the true ranking as of the cutoff, over the items
// the user could be shown (uploaded by the cutoff, not yet touched: what the sources may return):
//   NDCG@20      graded relevance = the generator's probability that the user watches and likes
//                the item, sigmoid(1.5a + 0.3 + watch_bias) * sigmoid(1.8a - 4.5 + like_bias)
//                for true affinity a; the ideal list is the true top 20, so the oracle scores 1
//   overlap@20   share of the true top 20 in the list
//   affinity     mean true affinity of the list's items
//   gap closed   (affinity - random) / (oracle - random)
// next to a random list (uniform over the eligible items) and the oracle (the true top 20).
//
//   build/bench/synthetic_truth [--work DIR] [--users 5000 --items 20000 --days 30 --seed 42]
//       [--cutoff-day 25] [--sample 1000] [--tune 1]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "funnel/core/logging.h"
#include "funnel/events/generator.h"
#include "funnel/ranking/candidate_ranker.h"
#include "funnel/ranking/rerank.h"
#include "funnel/ranking/store_features.h"
#include "funnel/retrieval/merger.h"
#include "funnel/retrieval/training_set.h"
#include "funnel/training/retrieval_trainer.h"
#include "synthetic_platform.h"

namespace {

using namespace funnel;
using retrieval::Candidate;
using retrieval::UserState;

constexpr size_t kK = 20;

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct Stat {
  double sum = 0, sq = 0;
  size_t n = 0;
  void Add(double x) {
    sum += x;
    sq += x * x;
    ++n;
  }
  double Mean() const { return n ? sum / static_cast<double>(n) : 0; }
  double StdErr() const {
    if (n < 2) return 0;
    const double m = Mean(), var = (sq - static_cast<double>(n) * m * m) / static_cast<double>(n - 1);
    return std::sqrt(std::max(0.0, var) / static_cast<double>(n));
  }
};

struct Row {
  std::string name;
  Stat length, ndcg, overlap, affinity;
};

// What one user's eligible items are worth: store item index -> true affinity and gain.
struct UserTruth {
  std::vector<double> affinity;  // per store item; NaN when not eligible
  std::vector<double> gain;
  std::vector<uint32_t> top;     // eligible items by affinity, best first (the oracle), at least kK
  absl::flat_hash_set<uint32_t> top_set;
  double ideal_dcg = 0;
  double mean_affinity = 0;      // over eligible items: the random list's expectation
  std::vector<uint32_t> eligible;
};

double Discount(size_t rank) { return 1.0 / std::log2(static_cast<double>(rank) + 2.0); }

void Score(const UserTruth& t, const std::vector<uint32_t>& list, Row* row) {
  double dcg = 0, aff = 0;
  size_t overlap = 0, n = 0;
  for (size_t r = 0; r < list.size() && r < kK; ++r) {
    const uint32_t i = list[r];
    if (i >= t.affinity.size() || std::isnan(t.affinity[i])) continue;  // not eligible: gain 0
    dcg += t.gain[i] * Discount(r);
    aff += t.affinity[i];
    overlap += t.top_set.contains(i);
    ++n;
  }
  row->length.Add(static_cast<double>(std::min(list.size(), kK)));
  row->ndcg.Add(t.ideal_dcg > 0 ? dcg / t.ideal_dcg : 0);
  row->overlap.Add(static_cast<double>(overlap) / kK);
  if (n > 0) row->affinity.Add(aff / static_cast<double>(n));
}

}  // namespace

int main(int argc, char** argv) {
  bench::PlatformOptions popt;
  std::vector<std::string> rest;
  if (!bench::ParsePlatformFlags(argc, argv, &popt, &rest)) return 2;
  size_t sample = 1000;
  uint32_t cutoff_day = 25;
  bool tune = true;
  for (size_t i = 0; i + 1 < rest.size(); i += 2) {
    if (rest[i] == "--sample") sample = std::stoul(rest[i + 1]);
    else if (rest[i] == "--cutoff-day") cutoff_day = static_cast<uint32_t>(std::stoul(rest[i + 1]));
    else if (rest[i] == "--tune") tune = std::stoi(rest[i + 1]) != 0;
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
  auto truth = events::GroundTruth::Load(platform->gen_dir);
  if (!truth.ok()) return fail(truth.status());
  const Timestamp cutoff = Timestamp::FromSeconds(events::kGeneratorEpochSeconds + 86400.0 * cutoff_day);

  training::RetrievalTrainOptions topt;
  topt.tune = tune;
  topt.store_features = features::DefaultFeatureSpecs();
  const EventsConfig events;
  std::fprintf(stderr, "training (tune=%d) before day %u\n", tune, cutoff_day);
  auto trained = training::TrainRetrieval(store, events, cutoff, topt);
  if (!trained.ok()) return fail(trained.status());
  retrieval::Merger merger(trained->slots, trained->max_candidates, trained->fusion);

  // Store indexes -> truth indexes, by id.
  std::vector<std::optional<ItemIdx>> truth_item(store.NumItems());
  for (uint32_t i = 0; i < store.NumItems(); ++i) truth_item[i] = truth->FindItem(store.ItemName(ItemIdx{i}));

  std::mt19937_64 rng(5);
  std::vector<uint32_t> users(store.NumUsers());
  std::iota(users.begin(), users.end(), 0u);
  std::shuffle(users.begin(), users.end(), rng);
  retrieval::StrengthRule rule(store, events, trained->data);
  // The full pipeline's list: the ranker (with the feature store as of the cutoff) and the
  // shipped re-rank steps, as `funnel recommend` serves it.
  auto fold = ranking::FoldAtTime::Create(topt.store_features, &store);
  if (!fold.ok()) return fail(fold.status());
  if (Status s = (*fold)->AdvanceTo(cutoff); !s.ok()) return fail(s);
  auto rerank = ranking::Reranker::Create(topt.rerank);
  if (!rerank.ok()) return fail(rerank.status());
  auto facts = ranking::ItemFacts::FromStore(store, trained->num_items);
  if (!facts.ok()) return fail(facts.status());
  ranking::CandidateRows ranked_rows;

  std::vector<Row> rows;
  std::vector<std::string> names = {"random"};
  for (const auto& s : merger.slots()) names.emplace_back(s.source->name());
  names.push_back("fused");
  names.push_back("final (ranker + re-rank)");
  names.push_back("oracle");
  for (const std::string& name : names) {
    rows.emplace_back();
    rows.back().name = name;
  }
  Stat cand_size, cand_recall20, cand_recall100, random_aff;
  size_t sampled = 0;

  for (uint32_t u : users) {
    if (sampled >= sample) break;
    auto st = retrieval::BuildUserState(store, rule, UserIdx{u}, cutoff, trained->data.recent_items);
    if (!st.ok()) return fail(st.status());
    if (st->items.empty()) continue;  // no history before the cutoff
    auto tu = truth->FindUser(store.UserName(UserIdx{u}));
    if (!tu) continue;
    ++sampled;
    const events::TruthUser& tuser = truth->user(*tu);

    UserTruth t;
    t.affinity.assign(store.NumItems(), std::nan(""));
    t.gain.assign(store.NumItems(), 0);
    for (uint32_t i = 0; i < store.NumItems(); ++i) {
      if (!truth_item[i] || truth->item(*truth_item[i]).uploaded > cutoff || st->Excluded(i)) continue;
      const double a = truth->Affinity(*tu, *truth_item[i], cutoff);
      t.affinity[i] = a;
      t.gain[i] = Sigmoid(1.5 * a + 0.3 + tuser.watch_bias) * Sigmoid(1.8 * a - 4.5 + tuser.like_bias);
      t.eligible.push_back(i);
      t.mean_affinity += a;
    }
    t.mean_affinity /= static_cast<double>(t.eligible.size());
    t.top = t.eligible;
    const size_t deep = std::min<size_t>(100, t.top.size());
    std::partial_sort(t.top.begin(), t.top.begin() + deep, t.top.end(), [&](uint32_t a, uint32_t b) {
      return t.affinity[a] != t.affinity[b] ? t.affinity[a] > t.affinity[b] : a < b;
    });
    t.top.resize(deep);
    for (size_t r = 0; r < std::min(kK, t.top.size()); ++r) {
      t.top_set.insert(t.top[r]);
      t.ideal_dcg += t.gain[t.top[r]] * Discount(r);
    }

    // Random: kK distinct eligible items.
    std::vector<uint32_t> random_list;
    std::sample(t.eligible.begin(), t.eligible.end(), std::back_inserter(random_list), kK, rng);
    std::shuffle(random_list.begin(), random_list.end(), rng);
    Score(t, random_list, &rows[0]);
    std::vector<Candidate> got;
    std::vector<uint32_t> list;
    for (size_t s = 0; s < merger.slots().size(); ++s) {
      merger.slots()[s].source->Retrieve(*st, {.k = kK, .now = cutoff}, &got);
      list.clear();
      for (const Candidate& c : got) list.push_back(c.item);
      Score(t, list, &rows[s + 1]);
    }
    retrieval::CandidateSet c = merger.Candidates(*st, cutoff);
    got = merger.Fuse(c, kK);
    list.clear();
    for (const Candidate& x : got) list.push_back(x.item);
    Score(t, list, &rows[rows.size() - 3]);
    {
      std::optional<ranking::FoldFeatures> features;
      if (trained->ranker != nullptr && !ranking::StoreFeaturesOf(*trained->ranker).empty())
        features.emplace((*fold)->fold(), st->user, cutoff);
      auto ranked = ranking::RankCandidates(c, *st, merger, trained->ranker.get(), std::max(kK, topt.rerank.pool),
                                            &ranked_rows, features ? &*features : nullptr);
      if (!ranked.ok()) return fail(ranked.status());
      rerank->Apply(*facts, {.k = kK, .seed = ranking::RequestSeed(topt.rerank.seed, store.UserName(UserIdx{u}), cutoff)},
                    &*ranked);
      list.clear();
      for (const Candidate& x : *ranked) list.push_back(x.item);
      Score(t, list, &rows[rows.size() - 2]);
    }
    Score(t, std::vector<uint32_t>(t.top.begin(), t.top.begin() + std::min(kK, t.top.size())), &rows.back());
    absl::flat_hash_set<uint32_t> in_set(c.items.begin(), c.items.end());
    size_t h20 = 0, h100 = 0;
    for (size_t r = 0; r < t.top.size(); ++r) {
      if (!in_set.contains(t.top[r])) continue;
      h100 += 1;
      h20 += r < kK;
    }
    cand_size.Add(static_cast<double>(c.items.size()));
    cand_recall20.Add(static_cast<double>(h20) / static_cast<double>(std::min(kK, t.top.size())));
    cand_recall100.Add(static_cast<double>(h100) / static_cast<double>(t.top.size()));
    random_aff.Add(t.mean_affinity);
  }

  const double random_mean = rows.front().affinity.Mean(), oracle_mean = rows.back().affinity.Mean();
  std::printf("## Retrieval sources against the generator's ground truth (synthetic_truth)\n\n");
  std::printf("- machine: %s\n", bench::MachineLine().c_str());
  std::printf("- platform: %u users x %u items x %u days, seed %llu; trained before day %u (%llu events, "
              "TrainRetrieval tune=%s, %.0f s); %zu random users with history before the cutoff\n",
              popt.users, popt.items, popt.days, static_cast<unsigned long long>(popt.seed), cutoff_day,
              static_cast<unsigned long long>(trained->training_events), tune ? "true" : "false", trained->seconds,
              sampled);
  std::printf("- sources and fusion:");
  for (const auto& s : merger.slots())
    std::printf(" %s (quota %zu, weight %.3g)", std::string(s.source->name()).c_str(), s.quota, s.weight);
  std::printf("; fusion %s, offset %.3g\n", trained->fusion.normalization == retrieval::FusionOptions::kRank ? "ranks" : "scores",
              trained->fusion.rank_offset);
  for (const auto& v : trained->validation)
    if (!v.params.empty()) std::printf("- chosen on validation: %s %s\n", v.name.c_str(), v.params.c_str());
  std::printf("- ranking: %s\n", trained->ranking_verdict.c_str());
  std::printf("- eligible items: uploaded by the cutoff and not touched by the user; relevance = P(watch and like)\n\n");
  std::printf("| list (top %zu) | length | NDCG@20 | ± se | overlap with true top 20 | mean true affinity | gap closed |\n", kK);
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Row& r : rows)
    std::printf("| %s | %.1f | %.4f | %.4f | %.4f | %.3f | %.3f |\n", r.name.c_str(), r.length.Mean(), r.ndcg.Mean(),
                r.ndcg.StdErr(), r.overlap.Mean(), r.affinity.Mean(),
                (r.affinity.Mean() - random_mean) / (oracle_mean - random_mean));
  std::printf("\nMerged candidates (trained quotas): %.0f per user on average; they hold %.1f%% of the true top 20 and "
              "%.1f%% of the true top 100. Mean true affinity of an eligible item: %.3f.\n",
              cand_size.Mean(), 100 * cand_recall20.Mean(), 100 * cand_recall100.Mean(), random_aff.Mean());
  std::printf("\n- machine at the end: %s\n", bench::MachineLine().c_str());
  return 0;
}
