#include "funnel/training/evaluation.h"

#include <algorithm>
#include <chrono>

#include "absl/container/flat_hash_set.h"

#include "funnel/core/logging.h"
#include "funnel/core/thread_pool.h"
#include "funnel/ranking/store_features.h"

namespace funnel::training {

StatusOr<EvaluationReport> RunEvaluation(const store::EventStore& store, const EventsConfig& events,
                                         const eval::ProtocolOptions& protocol,
                                         const RetrievalTrainOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const int threads = options.threads > 0 ? options.threads : HardwareThreads();
  FUNNEL_ASSIGN_OR_RETURN(const ranking::Reranker rerank, ranking::Reranker::Create(options.rerank));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<eval::Split> folds, eval::RollingFolds(store, events, protocol));
  EvaluationReport report;
  for (const eval::Split& split : folds) {
    spdlog::info("eval: fold {}: training on {} events before {}", split.fold, split.train_events,
                 FormatUtc(split.cutoff));
    FUNNEL_ASSIGN_OR_RETURN(TrainedRetrieval model, TrainRetrieval(store, events, split.cutoff, options));
    retrieval::Merger merger(model.slots, model.max_candidates, model.fusion);
    if (report.rows.empty()) {
      report.rows = merger.SourceNames();
      report.rows.push_back("candidates");
      report.rows.push_back("fusion");
      report.rows.push_back("ranked");
      report.rows.push_back("final");
      report.diversity.resize(report.rows.size());
      report.metrics.resize(report.rows.size());
    }
    FUNNEL_ASSIGN_OR_RETURN(std::vector<retrieval::UserState> states,
                            SplitUserStates(store, events, options.data, split));
    FUNNEL_ASSIGN_OR_RETURN(ranking::ItemFacts facts,
                            ranking::ItemFacts::FromStore(store, model.num_items,
                                                          rerank.Has("explore") ? std::optional<Timestamp>(model.cutoff)
                                                                                : std::nullopt));
    // The feature store as of the cutoff, when the fold's ranker reads it (as serving does).
    std::unique_ptr<ranking::FoldAtTime> fold;
    if (model.ranker != nullptr && !ranking::StoreFeaturesOf(*model.ranker).empty()) {
      FUNNEL_ASSIGN_OR_RETURN(fold, ranking::FoldAtTime::Create(options.store_features, &store));
      FUNNEL_RETURN_IF_ERROR(fold->AdvanceTo(split.cutoff));
    }
    const size_t sources = model.slots.size(), rows = report.rows.size();
    // Per user and row: the metrics and the top-20 list (for coverage).
    std::vector<std::vector<eval::UserMetrics>> m(states.size(), std::vector<eval::UserMetrics>(rows));
    std::vector<std::vector<std::vector<ItemIdx>>> tops(states.size(), std::vector<std::vector<ItemIdx>>(rows));
    std::vector<Status> failed(states.size());
    ParallelFor(states.size(), threads, [&](size_t begin, size_t end, int) {
      std::vector<retrieval::Candidate> found;
      ranking::CandidateRows ranked_rows;
      for (size_t u = begin; u < end; ++u) {
        const auto& truth = split.users[u].truth;
        for (size_t s = 0; s < sources; ++s) {
          model.slots[s].source->Retrieve(states[u], {.k = 20, .now = split.cutoff}, &found);
          for (const auto& c : found) tops[u][s].push_back(ItemIdx{c.item});
          m[u][s] = eval::ScoreList(tops[u][s], truth);
        }
        retrieval::CandidateSet c = merger.Candidates(states[u], split.cutoff);
        std::vector<retrieval::Candidate> ranked = merger.Fuse(c, c.items.size());
        std::vector<ItemIdx> all;
        for (const auto& r : ranked) all.push_back(ItemIdx{r.item});
        m[u][sources] = eval::ScoreList(all, truth);
        tops[u][sources].assign(all.begin(), all.begin() + std::min<size_t>(20, all.size()));
        m[u][sources + 1] = eval::ScoreList(tops[u][sources], truth);
        tops[u][sources + 1] = tops[u][sources];
        // The ranker's order and the final list: what the request pipeline serves.
        std::optional<ranking::FoldFeatures> features;
        if (fold != nullptr) features.emplace(fold->fold(), states[u].user, split.cutoff);
        const ranking::CandidateFeatureSource* store_features = features ? &*features : nullptr;
        // One ranking of the re-rank pool: its first 20 are the ranker's list (a prefix of the
        // same order), the re-rank steps on all of it give the final list, as serving runs them.
        StatusOr<std::vector<retrieval::Candidate>> pool =
            ranking::RankCandidates(c, states[u], merger, model.ranker.get(), std::max<size_t>(20, rerank.options().pool),
                                    &ranked_rows, store_features);
        if (!pool.ok()) {
          failed[u] = pool.status();
          continue;
        }
        for (size_t r = 0; r < std::min<size_t>(20, pool->size()); ++r) tops[u][sources + 2].push_back(ItemIdx{(*pool)[r].item});
        m[u][sources + 2] = eval::ScoreList(tops[u][sources + 2], truth);
        rerank.Apply(facts,
                     {.k = 20, .seed = ranking::RequestSeed(rerank.options().seed,
                                                            store.UserName(split.users[u].user), split.cutoff)},
                     &*pool);
        for (const auto& r : *pool) tops[u][sources + 3].push_back(ItemIdx{r.item});
        m[u][sources + 3] = eval::ScoreList(tops[u][sources + 3], truth);
      }
    }, 8);
    for (const Status& s : failed) FUNNEL_RETURN_IF_ERROR(s);
    for (size_t u = 0; u < states.size(); ++u)
      for (size_t r = 0; r < rows; ++r) {
        report.metrics[r].Add(split.fold, m[u][r], tops[u][r]);
        if (report.rows[r] != "candidates") report.diversity[r].Add(facts, tops[u][r]);
      }
    for (size_t r = 0; r < rows; ++r) report.metrics[r].SetCatalogSize(split.fold, split.catalog.size());
    report.folds.push_back({split.fold, split.cutoff, split.end, split.train_events, split.window_events,
                            split.catalog.size(), split.users.size(), model.seconds, model.validation,
                            model.ranking_verdict});
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

void ListDiversity::Add(const ranking::ItemFacts& facts, std::span<const ItemIdx> top) {
  std::vector<uint32_t> ten;
  for (size_t i = 0; i < std::min<size_t>(10, top.size()); ++i) ten.push_back(Raw(top[i]));
  if (ten.empty()) return;
  absl::flat_hash_set<uint32_t> categories, creators;
  for (uint32_t item : ten) {
    if (facts.category(item) != 0) categories.insert(facts.category(item));
    if (facts.creator(item) != 0) creators.insert(facts.creator(item));
  }
  ild10 += ranking::IntraListDiversity(facts, ten);
  categories10 += static_cast<double>(categories.size());
  creators10 += static_cast<double>(creators.size());
  ++lists;
}

}  // namespace funnel::training
