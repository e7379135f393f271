#include "funnel/serving/request_pipeline.h"

#include "absl/container/flat_hash_map.h"
#include "funnel/model/live_covisit.h"

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
                                 const EventsConfig& events)
    : store_(store), models_(models), events_(events) {}

StatusOr<Recommendation> RequestPipeline::Recommend(const Request& request) {
  // One snapshot for the whole request: a model published meanwhile serves the next one.
  const std::shared_ptr<const model::RetrievalModel> m = models_.Get();
  if (m == nullptr) return absl::FailedPreconditionError("no model is loaded: run funnel train first");
  if (request.k == 0) return absl::InvalidArgumentError("k must be at least 1");
  if (rule_model_ != m.get()) {
    rule_ = std::make_unique<retrieval::StrengthRule>(store_, events_, m->manifest().data);
    rule_model_ = m.get();
  }

  Recommendation out;
  out.model_version = m->manifest().version;
  out.at = request.at.value_or(DefaultRequestTime(store_));

  // Step: the user's state as of the request time.
  retrieval::UserState state;
  if (std::optional<UserIdx> u = store_.FindUser(request.user)) {
    FUNNEL_ASSIGN_OR_RETURN(state, retrieval::BuildUserState(store_, *rule_, *u, out.at, m->manifest().data.recent_items));
    // Every item the user touched before `at` is excluded: none means no events before `at`.
    out.history = state.exclude.empty() ? UserHistory::kNoEventsBeforeAt : UserHistory::kHistory;
  }
  for (const std::string& id : request.exclude)
    if (std::optional<ItemIdx> i = store_.FindItem(id)) state.exclude.insert(Raw(*i));
  out.catalog = m->num_items();
  out.excluded = state.exclude.size();

  // Step: retrieve (every source's candidates, scored by every source).
  const retrieval::Merger& merger = m->merger();
  retrieval::CandidateSet c = merger.Candidates(state, out.at);
  out.candidates = c.items.size();

  // Step: fuse (ranking and re-ranking will follow here).
  std::vector<retrieval::Candidate> top = merger.Fuse(c, request.k);

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

}  // namespace funnel::serving
