// State other than the feature records that the online writer keeps current from the same
// stream of stored events: the retrieval model's co-visitation counts (training/live_covisit.h).
// Attached to OnlineFeatures, it sees every event the writer folds, in the writer's arrival
// order, and is persisted whenever the writer persists its records, so it is as fresh as the
// features and survives the same crashes (it catches up from its own watermark when attached).
//
// Thread-safety: the writer calls Apply and Persist under its exclusive lock, one at a time.
#pragma once

#include "funnel/core/status.h"
#include "funnel/store/event_store.h"

namespace funnel::features {

class StreamFold {
 public:
  virtual ~StreamFold() = default;
  // One newly stored event; a seq below what this fold has already seen must be ignored (the
  // writer may hand an event again after a retried batch).
  virtual void Apply(const store::StoredEvent& event) = 0;
  virtual Status Persist() = 0;
};

}  // namespace funnel::features
