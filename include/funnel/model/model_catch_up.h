// A model is trained on the events before its cutoff; requests come later. The request-time
// user state already reads the user's newest events (BuildUserState); this brings the trained
// co-visitation pairs up to date as well: the events in [cutoff, until) go through the same fold
// that training used (retrieval::CovisitCounts), so a pair, or an upload, that appeared after
// training has neighbours at once, without retraining. This is the refold from the cutoff, by
// time; the writers keep the same fold current as events arrive (live_covisit.h), and requests
// use that, falling back to this for a request time in the past.
//
//   FUNNEL_ASSIGN_OR_RETURN(model, WithEventsSinceCutoff(model, store, cfg.events, now));
//
// Thread-safety: reads the store and the (immutable) model; returns a new model.
#pragma once

#include <cstdint>
#include <memory>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/store/event_store.h"
#include "funnel/model/model_registry.h"

namespace funnel::model {

struct CatchUpReport {
  uint64_t events = 0;     // events in [cutoff, until)
  uint64_t positives = 0;  // of them, folded into the co-visitation counts
  uint32_t new_items = 0;  // items beyond the trained catalog that now have co-visitation lists
  bool live = false;       // taken from the writers' live state (live_covisit.h), not refolded
};

// `model` itself when there is nothing to fold (no co-visitation source, a bundle written
// before pair weights were kept, or no event since the cutoff).
StatusOr<std::shared_ptr<const RetrievalModel>> WithEventsSinceCutoff(std::shared_ptr<const RetrievalModel> model,
                                                                       const store::EventStore& store,
                                                                       const EventsConfig& events, Timestamp until,
                                                                       CatchUpReport* report = nullptr);

}  // namespace funnel::model
