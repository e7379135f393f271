#include "funnel/serving/request_pipeline.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "funnel/model/live_covisit.h"
#include "funnel/ranking/candidate_ranker.h"

namespace funnel::serving {

Timestamp DefaultRequestTime(const store::EventStore& store) {
  return store::DataPresent(store).value_or(Timestamp::FromMicros(0));
}

StatusOr<std::shared_ptr<const model::RetrievalModel>> LoadServingModel(const std::string& data_dir,
                                                                        std::shared_ptr<const retrieval::SourceRegistry> sources,
                                                                        const store::EventStore& store,
                                                                        const EventsConfig& events, Timestamp at,
                                                                        model::CatchUpReport* report) {
  FUNNEL_ASSIGN_OR_RETURN(model::ModelRegistry registry, model::ModelRegistry::Open(data_dir, std::move(sources)));
  FUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<const model::RetrievalModel> current, registry.LoadCurrent());
  return model::LiveCovisit::ModelAt(data_dir, std::move(current), store, events, at, report);
}

RequestPipeline::RequestPipeline(const store::EventStore& store, const ModelHandle& models,
                                 const EventsConfig& events, const ranking::RerankOptions& rerank,
                                 std::vector<features::FeatureSpec> store_features)
    : store_(store),
      models_(models),
      events_(events),
      reranker_(ranking::Reranker::Create(rerank)),
      specs_(std::move(store_features)) {}

StatusOr<const ranking::CandidateFeatureSource*> RequestPipeline::StoreFeatures(
    const model::RetrievalModel& m, uint32_t user, Timestamp at, std::optional<ranking::FoldFeatures>* holder) {
  if (m.ranker() == nullptr || ranking::StoreFeaturesOf(*m.ranker()).empty()) return nullptr;
  if (specs_.empty())
    return absl::FailedPreconditionError("the model's ranker reads the feature store, and no feature definitions were given");
  if (fold_ == nullptr) {
    FUNNEL_ASSIGN_OR_RETURN(fold_, ranking::FoldAtTime::Create(specs_, &store_));
  }
  FUNNEL_RETURN_IF_ERROR(fold_->AdvanceTo(at));
  holder->emplace(fold_->fold(), user, at);
  if (checked_model_ != &m) {
    FUNNEL_RETURN_IF_ERROR(ranking::CheckRankerFeatures(*m.ranker(), m.merger(), &**holder));
    checked_model_ = &m;
  }
  return &**holder;
}

StatusOr<std::shared_ptr<const model::RetrievalModel>> RequestPipeline::Snapshot() {
  // One snapshot for the whole request: a model published meanwhile serves the next one.
  std::shared_ptr<const model::RetrievalModel> m = models_.Get();
  if (m == nullptr) return absl::FailedPreconditionError("no model is loaded: run funnel train first");
  if (!reranker_.ok()) return reranker_.status();
  if (rule_model_ != m.get()) {
    rule_ = std::make_unique<retrieval::StrengthRule>(store_, events_, m->manifest().data);
    // Impression and like counts (for explore) as of the model's cutoff: what the model knows.
    FUNNEL_ASSIGN_OR_RETURN(ranking::ItemFacts facts,
                            ranking::ItemFacts::FromStore(store_, m->num_items(),
                                                          reranker_->Has("explore")
                                                              ? std::optional<Timestamp>(m->manifest().cutoff)
                                                              : std::nullopt));
    facts_ = std::make_unique<ranking::ItemFacts>(std::move(facts));
    rule_model_ = m.get();
  }
  return m;
}

Status RequestPipeline::StateOf(const model::RetrievalModel& m, const std::string& user, Timestamp at,
                                retrieval::UserState* state, UserHistory* history) {
  *history = UserHistory::kUnknownUser;
  if (std::optional<UserIdx> u = store_.FindUser(user)) {
    FUNNEL_ASSIGN_OR_RETURN(*state, retrieval::BuildUserState(store_, *rule_, *u, at, m.manifest().data.recent_items));
    // Every item the user touched before `at` is excluded: none means no events before `at`.
    *history = state->exclude.empty() ? UserHistory::kNoEventsBeforeAt : UserHistory::kHistory;
  }
  return absl::OkStatus();
}

StatusOr<Recommendation> RequestPipeline::Recommend(const Request& request) {
  FUNNEL_ASSIGN_OR_RETURN(const std::shared_ptr<const model::RetrievalModel> m, Snapshot());
  if (request.k == 0) return absl::InvalidArgumentError("k must be at least 1");

  Recommendation out;
  out.model_version = m->manifest().version;
  out.at = request.at.value_or(DefaultRequestTime(store_));

  // Step: the user's state as of the request time.
  retrieval::UserState state;
  FUNNEL_RETURN_IF_ERROR(StateOf(*m, request.user, out.at, &state, &out.history));
  for (const std::string& id : request.exclude)
    if (std::optional<ItemIdx> i = store_.FindItem(id)) state.exclude.insert(Raw(*i));
  out.catalog = m->num_items();
  out.excluded = state.exclude.size();

  // Step: retrieve (every source's candidates, scored by every source).
  const retrieval::Merger& merger = m->merger();
  retrieval::CandidateSet c = merger.Candidates(state, out.at);
  out.candidates = c.items.size();

  // Step: fuse, then rank the top of the fused order (the model's ranker; the fused order
  // alone when the fusion won on validation).
  ranking::CandidateRows rows;
  const size_t pool = reranker_->empty() ? request.k : std::max(request.k, reranker_->options().pool);
  std::optional<ranking::FoldFeatures> holder;
  FUNNEL_ASSIGN_OR_RETURN(const ranking::CandidateFeatureSource* features, StoreFeatures(*m, state.user, out.at, &holder));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<retrieval::Candidate> top,
                          ranking::RankCandidates(c, state, merger, m->ranker(), pool, &rows, features));

  // Step: re-rank the top of that order into the list.
  reranker_->Apply(*facts_, {.k = request.k, .seed = ranking::RequestSeed(reranker_->options().seed, request.user, out.at)},
                   &top);

  absl::flat_hash_map<uint32_t, size_t> row;  // item -> candidate row, for explain
  if (request.explain)
    for (size_t r = 0; r < c.items.size(); ++r) row.emplace(c.items[r], r);
  out.items.reserve(top.size());
  for (size_t r = 0; r < top.size(); ++r) {
    RecommendedItem& it = out.items.emplace_back();
    it.item = store_.ItemName(ItemIdx{top[r].item});
    it.rank = static_cast<uint32_t>(r + 1);
    it.score = top[r].score;
    if (!request.explain) continue;
    auto found = row.find(top[r].item);
    if (found == row.end()) continue;
    for (size_t s = 0; s < c.sources; ++s)
      it.sources.push_back({std::string(merger.slots()[s].source->name()), c.Score(found->second, s),
                            ((c.found_by[found->second] >> s) & 1u) != 0});
  }
  return out;
}

StatusOr<Ranking> RequestPipeline::Rank(const RankRequest& request) {
  FUNNEL_ASSIGN_OR_RETURN(const std::shared_ptr<const model::RetrievalModel> m, Snapshot());
  Ranking out;
  out.model_version = m->manifest().version;
  out.at = request.at.value_or(DefaultRequestTime(store_));
  retrieval::UserState state;
  FUNNEL_RETURN_IF_ERROR(StateOf(*m, request.user, out.at, &state, &out.history));
  const retrieval::Merger& merger = m->merger();

  // Which sources would have retrieved each item for this user (a feature the ranker learned
  // from): the same retrieval a recommendation runs, consumed items excluded as there.
  const retrieval::CandidateSet retrieved = merger.Candidates(state, out.at);
  absl::flat_hash_map<uint32_t, uint32_t> found_by;
  for (size_t j = 0; j < retrieved.items.size(); ++j) found_by.emplace(retrieved.items[j], retrieved.found_by[j]);

  // The request's items in its order, repeats dropped. Unknown items get indexes past the
  // model's catalog (never a real item's) and no source score.
  retrieval::CandidateSet c;
  c.sources = merger.slots().size();
  std::vector<std::string_view> ids;
  std::vector<bool> known;
  absl::flat_hash_set<std::string_view> seen;
  std::vector<uint32_t> known_items;
  for (const std::string& id : request.items) {
    if (!seen.insert(id).second) {
      ++out.repeats;
      continue;
    }
    std::optional<ItemIdx> i = store_.FindItem(id);
    const bool in_model = i && Raw(*i) < m->num_items();
    const uint32_t index = in_model ? Raw(*i) : m->num_items() + static_cast<uint32_t>(ids.size());
    ids.push_back(id);
    known.push_back(in_model);
    c.items.push_back(index);
    auto f = found_by.find(index);
    c.found_by.push_back(in_model && f != found_by.end() ? f->second : 0u);
    if (in_model) known_items.push_back(index);
  }
  const size_t n = c.items.size();
  c.scores.assign(n * c.sources, std::numeric_limits<float>::quiet_NaN());
  std::vector<float> scored(known_items.size());
  for (size_t s = 0; s < c.sources; ++s) {
    merger.slots()[s].source->Score(state, known_items, out.at, scored);
    for (size_t j = 0, k = 0; j < n; ++j)
      if (known[j]) c.scores[j * c.sources + s] = scored[k++];
  }

  // Scores per request position: the ranker's over every item, or the fusion's.
  std::vector<float> score(n, 0.0f);
  if (n > 0) {
    ranking::CandidateRows rows;
    if (const ranking::CandidateRanker* ranker = m->ranker()) {
      std::optional<ranking::FoldFeatures> holder;
      FUNNEL_ASSIGN_OR_RETURN(const ranking::CandidateFeatureSource* features,
                              StoreFeatures(*m, state.user, out.at, &holder));
      if (ranking::CandidateFeatureCount(c.sources, features) != ranker->features().size()) return ranking::CheckRankerFeatures(*ranker, merger, features);
      ranking::ComputeCandidateRows(c, state, merger, n, &rows, features);
      std::vector<float> by_row(n);
      FUNNEL_RETURN_IF_ERROR(ranker->Score({rows.values, n, rows.cols}, by_row));
      for (size_t r = 0; r < n; ++r) score[rows.candidate[r]] = by_row[r];
    } else {
      const std::vector<retrieval::Candidate> fused = merger.Fuse(c, n);
      absl::flat_hash_map<uint32_t, float> by_item;
      for (const retrieval::Candidate& f : fused) by_item.emplace(f.item, f.score);
      for (size_t j = 0; j < n; ++j) score[j] = by_item[c.items[j]];
    }
  }
  std::vector<uint32_t> order(n);
  for (uint32_t j = 0; j < n; ++j) order[j] = j;
  auto key = [&](uint32_t j) { return std::isnan(score[j]) ? -std::numeric_limits<float>::infinity() : score[j]; };
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return key(a) > key(b); });
  out.items.reserve(n);
  for (size_t r = 0; r < n; ++r) {
    const uint32_t j = order[r];
    out.items.push_back({std::string(ids[j]), static_cast<uint32_t>(r + 1), key(j), known[j]});
  }
  return out;
}

}  // namespace funnel::serving
