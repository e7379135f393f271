// The evaluation protocol of DESIGN.md ("the number everybody quotes"): rolling-origin temporal
// splits over the event store, five folds by default.
//
// Sort events by time; q(p) is the time of the event at quantile p. Fold f (1..folds) trains on
// every event before c = q(0.4 + 0.1·f) and tests on [c, q(0.5 + 0.1·f)); the last fold's window
// includes the final event. Test users of a split: at least one positive in its window and at
// least one event before c. Ground truth: the user's window positives on items seen (by anyone)
// before c that the user did not touch before c. Every item seen before c is ranked, minus the
// user's own items.
//
// Validation splits are carved the same way from the end of a training part, so tuning never
// sees a test window.
//
//   FUNNEL_ASSIGN_OR_RETURN(std::vector<Split> folds, RollingFolds(store, cfg.events, {}));
//   for (const Split& s : folds) { train on events < s.cutoff; score s.users; }
//
// Thread-safety: functions are reentrant; a Split is an immutable value.
#pragma once

#include <cstdint>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/store/event_store.h"

namespace funnel::eval {

struct TestUser {
  UserIdx user{};
  std::vector<ItemIdx> truth;  // sorted, unique
  std::vector<ItemIdx> own;    // items the user touched before the cutoff, sorted, unique
};

struct Split {
  int fold = 0;             // 1..folds for test folds; 0 for a validation split
  Timestamp cutoff;         // train on events with ts < cutoff
  Timestamp end;            // test window [cutoff, end)
  uint64_t train_events = 0;
  uint64_t window_events = 0;
  std::vector<ItemIdx> catalog;  // items seen by anyone before the cutoff: the ranking universe
  std::vector<TestUser> users;   // in user index order
};

struct ProtocolOptions {
  int folds = 5;
};

// Whether an event counts as a positive: a configured positive type, or a `rating` whose value
// is at least the threshold.
class PositiveRule {
 public:
  PositiveRule(const store::EventStore& store, const EventsConfig& events);
  bool operator()(const store::StoredEvent& e) const;
 private:
  std::vector<int8_t> by_type_;  // -1 never, 1 always, 2 rating rule
  double rating_threshold_ = 4.0;
};

// The protocol's folds. Fails on a store with too few events to place the cutoffs.
StatusOr<std::vector<Split>> RollingFolds(const store::EventStore& store, const EventsConfig& events,
                                          const ProtocolOptions& options);

// A split with cutoff c and window [c, end): for validation carve-outs (window = the last
// `fraction` of the events before a training cutoff: see ValidationSplit) and for tests.
StatusOr<Split> MakeSplit(const store::EventStore& store, const EventsConfig& events, Timestamp cutoff,
                          Timestamp end);

// The validation split for a training part that ends at `train_end`: its window holds the last
// `fraction` of the events before train_end, its cutoff is where that window starts.
StatusOr<Split> ValidationSplit(const store::EventStore& store, const EventsConfig& events,
                                Timestamp train_end, double fraction = 0.1);

}  // namespace funnel::eval
