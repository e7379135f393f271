#include "funnel/model/model_catch_up.h"

#include "funnel/retrieval/covisit.h"
#include "funnel/retrieval/training_set.h"
#include "model/covisit_seed.h"

namespace funnel::model {

StatusOr<std::shared_ptr<const RetrievalModel>> WithEventsSinceCutoff(std::shared_ptr<const RetrievalModel> model,
                                                                       const store::EventStore& store,
                                                                       const EventsConfig& events, Timestamp until,
                                                                       CatchUpReport* report) {
  CatchUpReport local;
  CatchUpReport& r = report ? *report : local;
  r = {};
  const retrieval::CovisitSource* covisit = internal::FindCovisit(*model);
  const Timestamp cutoff = model->manifest().cutoff;
  if (covisit == nullptr || !covisit->updatable() || until <= cutoff) return model;

  const retrieval::CovisitOptions& options = covisit->options();
  retrieval::StrengthRule rule(store, events, model->manifest().data);
  retrieval::CovisitCounts later(options, covisit->reference_us());
  Status inner;
  FUNNEL_RETURN_IF_ERROR(store.Replay(cutoff, until, [&](const store::StoredEvent& e) {
    ++r.events;
    if (!rule.Positive(e.type, e.value)) return true;
    const uint32_t user = Raw(e.user), item = Raw(e.item);
    if (!later.KnowsUser(user)) {
      inner = internal::SeedUserBeforeCutoff(store, rule, options, cutoff, e.user, later);
      if (!inner.ok()) return false;
    }
    later.Add(user, item, e.ts.micros());
    ++r.positives;
    return true;
  }));
  FUNNEL_RETURN_IF_ERROR(inner);
  if (r.positives == 0) return model;
  std::shared_ptr<const retrieval::Source> updated = covisit->WithUpdates(later);
  const uint32_t trained_items = covisit->num_items();
  for (uint32_t i = trained_items; i < later.num_items(); ++i) r.new_items += later.Pairs(i) != nullptr;
  return model->WithSource(*covisit, std::move(updated));
}

}  // namespace funnel::model
