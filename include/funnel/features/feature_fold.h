// The feature fold: one piece of code that turns the time-ordered event stream into feature
// values, used both online (events update state as they arrive; requests read it) and offline
// (the dataset builder replays history and reads each row's features *before* applying the
// row's own event). Training-serving skew is then impossible by construction: there is only
// one implementation (DESIGN.md, principle 1).
//
//   FUNNEL_ASSIGN_OR_RETURN(auto fold, FeatureFold::Create(DefaultFeatureSpecs(), store));
//   store.Replay(Timestamp::Min(), t, [&](const store::StoredEvent& e) { fold->Apply(e); return true; });
//   std::vector<float> x(fold->names().size());
//   fold->Compute(user, item, t, x);   // as of t; NaN marks a missing value
//
// State per entity: decayed aggregates keep (value, time of last update) and decay lazily, so
// an update or a read costs O(features of that entity), whatever the history length.
// Time is an argument: nothing here reads the clock. An event older than its entity's last
// update is folded in as if it happened at that last update (replays are in time order, so
// this only affects late online events, and identically on every path).
//
// Thread-safety: Apply/Upsert* need exclusive access; Compute/LastItems may run concurrently
// with each other but not with Apply.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/features/feature_spec.h"
#include "funnel/store/event_store.h"

namespace funnel::features {

class FeatureFold {
 public:
  // Loads item metadata and user attributes from `store` (kept in memory; the store is used for
  // id <-> name lookups afterwards and must outlive the fold).
  static StatusOr<std::unique_ptr<FeatureFold>> Create(std::vector<FeatureSpec> specs,
                                                       const store::EventStore& store);
  virtual ~FeatureFold() = default;

  // Folds one event into the state.
  virtual void Apply(const store::StoredEvent& event) = 0;
  // Metadata that arrives after creation (item upserts, new user attributes).
  virtual void UpsertItem(ItemIdx item, const events::Item& meta) = 0;
  virtual void UpsertUser(UserIdx user, const events::User& meta) = 0;

  // Names of the numeric features, in the order Compute writes them.
  virtual const std::vector<std::string>& names() const = 0;
  // The feature vector of (user, item) as of t; out.size() must equal names().size().
  virtual void Compute(UserIdx user, ItemIdx item, Timestamp t, std::span<float> out) const = 0;
  // The items kept by a last_n feature, newest first; empty when unknown.
  virtual std::vector<ItemIdx> LastItems(UserIdx user, std::string_view feature) const = 0;
  // Names of the last_n features.
  virtual std::vector<std::string> LastNFeatures() const = 0;

  // Bytes of feature state held in memory (for capacity planning).
  virtual size_t StateBytes() const = 0;
};

}  // namespace funnel::features
