// The one request path: every list Funnel serves (`funnel recommend`, `funnel demo`, and the
// HTTP server) comes from RequestPipeline::Recommend. A request names a user, how many items,
// the time it is made at and what must not be shown; the pipeline runs its steps in order on
// one model snapshot:
//
//   user state   the user's events before `at`, weighed as training weighed them
//   retrieve     every source's quota of candidates, their union, every source's score of each
//   fuse         the fused order of the candidates
//   rank         the model's ranker reorders the top of that order (ranking/candidate_ranker.h);
//                models whose fusion beat every ranker on validation skip it
//   re-rank      the configured steps (filter, diversity, caps) on the top of that order
//
// and answers with the list and, per item, which sources found it and what each scored.
//
//   ModelHandle models(LoadServingModel(...));
//   RequestPipeline pipeline(*store, models, cfg.events);
//   FUNNEL_ASSIGN_OR_RETURN(Recommendation r, pipeline.Recommend({.user = "u1", .k = 20}));
//
// Time: a request without `at` is made at the data's present (store::DataPresent): the same
// rule as every command. Unknown users are an expected case: they get the lists of the sources
// that need no history (popular, trending, fresh), `known_user` false.
//
// Thread-safety: one RequestPipeline per thread (it keeps per-thread caches of the event
// weighting); any number of them may share one ModelHandle and one EventStore.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/model/model_catch_up.h"
#include "funnel/ranking/rerank.h"
#include "funnel/ranking/store_features.h"
#include "funnel/retrieval/source_registry.h"
#include "funnel/retrieval/training_set.h"
#include "funnel/serving/model_handle.h"
#include "funnel/store/event_store.h"

namespace funnel::serving {

struct Request {
  std::string user;
  size_t k = 20;
  std::optional<Timestamp> at = {};   // nullopt: the data's present
  std::vector<std::string> exclude = {};  // item ids never to return (unknown ids are ignored)
  bool explain = false;               // fill RecommendedItem::sources
};

// One source's view of a recommended item.
struct SourceScore {
  std::string source;
  float score = 0;         // the source's own score (its scale, not comparable across sources)
  bool retrieved = false;  // the item was in this source's quota (else only scored by it)
};

struct RecommendedItem {
  std::string item;
  uint32_t rank = 0;  // from 1
  float score = 0;    // the ranker's (or the fused) score: orders this list only, not comparable across users
  std::vector<SourceScore> sources;  // with Request::explain, in the model's source order
};

// What the store knows of the requesting user at the request time; the two cold cases are
// told apart so a report can say why a user got the cold-start list.
enum class UserHistory {
  kUnknownUser,       // no event of this user is stored at all
  kNoEventsBeforeAt,  // the user's events are all at or after the request time
  kHistory,           // the user has events before the request time
};

struct Recommendation {
  std::string model_version;
  Timestamp at;             // the time the request was answered as of
  UserHistory history = UserHistory::kUnknownUser;
  bool known_user() const { return history == UserHistory::kHistory; }  // events before `at`
  size_t candidates = 0;    // size of the merged candidate set
  // Why a list can be shorter than k: the model's catalog, and how many of its items this
  // request excluded (the user's consumed items plus Request::exclude).
  size_t catalog = 0;
  size_t excluded = 0;
  std::vector<RecommendedItem> items;  // best first, at most k
};

// A rank request (`funnel rank`, and the HTTP /rank): order given items for a user at a time.
struct RankRequest {
  std::string user;
  std::vector<std::string> items;      // every one is ranked exactly once (repeats are dropped)
  std::optional<Timestamp> at = {};    // the point in time of the features; nullopt: the data's present
};

struct RankedItem {
  std::string item;
  uint32_t rank = 0;  // from 1
  float score = 0;    // orders this request only
  bool known = true;  // false: the model has never seen the item (scored with cold features)
};

struct Ranking {
  std::string model_version;
  Timestamp at;
  UserHistory history = UserHistory::kUnknownUser;
  std::vector<RankedItem> items;  // best first; ties keep the request's order
  size_t repeats = 0;             // item ids the request listed more than once (ranked once)
};

class RequestPipeline {
 public:
  // `store` and `models` must outlive the pipeline; a model must be published in `models`
  // before the first request.
  // `rerank`: the re-rank steps after the ranker ([rerank]; rerank.h), checked when the config
  // was read (an unknown step fails every request, naming the known ones).
  // `store_features`: the feature definitions in force (the config's), for models whose ranker
  // reads the feature store; the fold of every event before a request's time is kept and moved
  // forward with the requests (ranking/store_features.h).
  RequestPipeline(const store::EventStore& store, const ModelHandle& models, const EventsConfig& events,
                  const ranking::RerankOptions& rerank = {}, std::vector<features::FeatureSpec> store_features = {});

  // FailedPrecondition when no model is published; k must be at least 1.
  StatusOr<Recommendation> Recommend(const Request& request);

  // The same steps over the request's items instead of retrieved candidates: every source
  // scores every item, the fusion and the ranker order them. Point in time: only events before
  // `at` shape the user's state, and the model is used as trained (no events past its cutoff
  // are folded in), so an event stamped at or after `at` never changes the answer. Items the
  // model does not know are ranked too, with every source's score missing. Consumed items are
  // not excluded: the caller asked for exactly these.
  StatusOr<Ranking> Rank(const RankRequest& request);

 private:
  const store::EventStore& store_;
  const ModelHandle& models_;
  const EventsConfig events_;
  // The weighting of events into user states depends on the model's training-set options, so
  // it is rebuilt when a request brings a different model than the last one.
  const model::RetrievalModel* rule_model_ = nullptr;
  std::unique_ptr<retrieval::StrengthRule> rule_;
  StatusOr<ranking::Reranker> reranker_;
  std::unique_ptr<ranking::ItemFacts> facts_;  // the item metadata of rule_model_'s catalog
  std::vector<features::FeatureSpec> specs_;
  std::unique_ptr<ranking::FoldAtTime> fold_;
  const model::RetrievalModel* checked_model_ = nullptr;  // whose ranker's features matched fold_'s

  // The feature store's columns for `user` at `at` when the model's ranker reads them (held in
  // *holder), else null.
  StatusOr<const ranking::CandidateFeatureSource*> StoreFeatures(const model::RetrievalModel& m, uint32_t user,
                                                                 Timestamp at,
                                                                 std::optional<ranking::FoldFeatures>* holder);

  // The model snapshot and the user's state as of the request time (with the history verdict).
  StatusOr<std::shared_ptr<const model::RetrievalModel>> Snapshot();
  Status StateOf(const model::RetrievalModel& m, const std::string& user, Timestamp at, retrieval::UserState* state,
                 UserHistory* history);
};

// The current model of `data_dir` prepared to serve requests made at `at`: the registry's
// current version with every event since its cutoff folded into its co-visitation (the
// writers' live state plus what arrived since, or a refold from the cutoff for a time in the
// past: model/live_covisit.h), its sources loaded through `sources`. NotFound when nothing
// was trained yet.
StatusOr<std::shared_ptr<const model::RetrievalModel>> LoadServingModel(const std::string& data_dir,
                                                                        std::shared_ptr<const retrieval::SourceRegistry> sources,
                                                                        const store::EventStore& store,
                                                                        const EventsConfig& events, Timestamp at,
                                                                        model::CatchUpReport* report = nullptr);

// The request time of a request without one: the data's present, or the epoch for an empty store.
Timestamp DefaultRequestTime(const store::EventStore& store);

}  // namespace funnel::serving
