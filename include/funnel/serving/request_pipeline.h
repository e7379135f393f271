// The one request path: every list Funnel serves (`funnel recommend`, `funnel demo`, and the
// HTTP server) comes from RequestPipeline::Recommend. A request names a user, how many items,
// the time it is made at and what must not be shown; the pipeline runs its steps in order on
// one model snapshot:
//
//   user state   the user's events before `at`, weighed as training weighed them
//   retrieve     every source's quota of candidates, their union, every source's score of each
//   fuse         the fused order of the candidates (the ranker and re-rank steps go here)
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
  float score = 0;    // the fused score: orders this list only, not comparable across users
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

class RequestPipeline {
 public:
  // `store` and `models` must outlive the pipeline; a model must be published in `models`
  // before the first request.
  RequestPipeline(const store::EventStore& store, const ModelHandle& models, const EventsConfig& events);

  // FailedPrecondition when no model is published; k must be at least 1.
  StatusOr<Recommendation> Recommend(const Request& request);

 private:
  const store::EventStore& store_;
  const ModelHandle& models_;
  const EventsConfig events_;
  // The weighting of events into user states depends on the model's training-set options, so
  // it is rebuilt when a request brings a different model than the last one.
  const model::RetrievalModel* rule_model_ = nullptr;
  std::unique_ptr<retrieval::StrengthRule> rule_;
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
