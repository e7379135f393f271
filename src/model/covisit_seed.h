// Shared by the two folds that continue a model's co-visitation past its cutoff
// (model_catch_up.cc, live_covisit.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/retrieval/covisit.h"
#include "funnel/retrieval/training_set.h"
#include "funnel/store/event_store.h"
#include "funnel/model/model_registry.h"

namespace funnel::model::internal {

// The model's co-visitation source (Source::AsCovisit says which one it is); nullptr when it
// has none.
inline const retrieval::CovisitSource* FindCovisit(const RetrievalModel& model) {
  for (const retrieval::SourceSlot& slot : model.merger().slots())
    if (const retrieval::CovisitSource* covisit = slot.source->AsCovisit()) return covisit;
  return nullptr;
}

// A user's first engagement after the cutoff pairs with their last trained ones: their sequence
// is seeded with their positives of the window before the cutoff (the last max_gap of them).
inline Status SeedUserBeforeCutoff(const store::EventStore& store, retrieval::StrengthRule& rule,
                                   const retrieval::CovisitOptions& options, Timestamp cutoff, UserIdx user,
                                   retrieval::CovisitCounts& counts) {
  const double window_us = std::min(options.window_hours * 3600e6, 1e18);
  const Timestamp from = Timestamp::FromMicros(
      std::max<int64_t>(std::numeric_limits<int64_t>::min() / 2, cutoff.micros() - static_cast<int64_t>(window_us)));
  std::vector<store::HistoryEntry> seeds;
  FUNNEL_RETURN_IF_ERROR(store.UserHistory(user, from, cutoff, [&](const store::HistoryEntry& h) {
    if (rule.Positive(h.type, h.value)) seeds.push_back(h);
    return true;
  }));
  const size_t keep = std::min(seeds.size(), static_cast<size_t>(std::max(options.max_gap, 0)));
  for (size_t k = seeds.size() - keep; k < seeds.size(); ++k) counts.Seed(Raw(user), Raw(seeds[k].item), seeds[k].ts.micros());
  return absl::OkStatus();
}

}  // namespace funnel::model::internal
