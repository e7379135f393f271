#include "funnel/training/model_catch_up.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "funnel/retrieval/covisit.h"
#include "funnel/retrieval/training_set.h"

namespace funnel::training {

StatusOr<std::shared_ptr<const RetrievalModel>> WithEventsSinceCutoff(std::shared_ptr<const RetrievalModel> model,
                                                                       const store::EventStore& store,
                                                                       const EventsConfig& events, Timestamp until,
                                                                       CatchUpReport* report) {
  CatchUpReport local;
  CatchUpReport& r = report ? *report : local;
  r = {};
  const retrieval::CovisitSource* covisit = nullptr;
  for (const retrieval::SourceSlot& slot : model->merger().slots())
    if (slot.source->name() == "covisit") covisit = dynamic_cast<const retrieval::CovisitSource*>(slot.source.get());
  const Timestamp cutoff = model->manifest().cutoff;
  if (covisit == nullptr || !covisit->updatable() || until <= cutoff) return model;

  const retrieval::CovisitOptions& options = covisit->options();
  retrieval::StrengthRule rule(store, events, model->manifest().data);
  retrieval::CovisitCounts later(options, covisit->reference_us());
  // A user's first engagement after the cutoff pairs with their last trained ones: seed the
  // sequence with their positives of the window before the cutoff (the last max_gap of them).
  const double window_us = std::min(options.window_hours * 3600e6, 1e18);
  const Timestamp seed_from = Timestamp::FromMicros(
      std::max<int64_t>(std::numeric_limits<int64_t>::min() / 2, cutoff.micros() - static_cast<int64_t>(window_us)));
  std::vector<store::HistoryEntry> seeds;
  Status inner;
  FUNNEL_RETURN_IF_ERROR(store.Replay(cutoff, until, [&](const store::StoredEvent& e) {
    ++r.events;
    if (!rule.Positive(e.type, e.value)) return true;
    const uint32_t user = Raw(e.user), item = Raw(e.item);
    if (!later.KnowsUser(user)) {
      seeds.clear();
      inner = store.UserHistory(e.user, seed_from, cutoff, [&](const store::HistoryEntry& h) {
        if (rule.Positive(h.type, h.value)) seeds.push_back(h);
        return true;
      });
      if (!inner.ok()) return false;
      const size_t keep = std::min(seeds.size(), static_cast<size_t>(std::max(options.max_gap, 0)));
      for (size_t k = seeds.size() - keep; k < seeds.size(); ++k) later.Seed(user, Raw(seeds[k].item), seeds[k].ts.micros());
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
  return model->WithSource("covisit", std::move(updated));
}

}  // namespace funnel::training
