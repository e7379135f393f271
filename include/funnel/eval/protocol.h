// The evaluation protocol of docs/protocol.md ("the number everybody quotes"): rolling-origin temporal
// splits over the event store, five folds by default.
//
// Quantiles. With the N events sorted by time (the store's replay order), q(p) is the time of
// the event at 0-based index min(⌊p·N⌋, N−1): the first event after the first p·N events, so a
// cutoff at q(p) leaves (up to ties) exactly ⌊p·N⌋ events to train on. On ml-100k this gives the
// 376 (fold, user) pairs peers report (docs/figures.md); index ⌊p·(N−1)⌋ would give 377.
// Fractions are computed exactly, in tenths, for the rolling folds.
//
// Fold f of F (1..F; F = 5 by default) trains on every event with ts < c = q(p), where
// p = 1 − 0.1·(F−f+1) (0.4 + 0.1·f for five folds), and tests on [c, q(p + 0.1)). Events sharing the
// cutoff's timestamp all fall on the test side. The last fold's window runs to the final event
// inclusive: its `end` is one microsecond past it.
//
// Within a split (cutoff c, window [c, end)):
//  - catalog: every item with at least one event (any type, anyone) before c;
//  - own(u): the items u touched (any type) before c;
//  - truth(u): u's window positives (PositiveRule) on catalog items not in own(u);
//  - test users: users with at least one event before c and a non-empty truth (a user whose
//    window positives are all cold items or re-visits of own items is not a test user).
// Nothing at or after c enters the catalog or own(u).
//
// Validation splits are carved the same way from the end of a training part, so tuning never
// sees a test window.
//
// Cost: RollingFolds replays the store's events three times (pick the cutoff times; build the
// catalogs, counts and window positives; collect the candidates' own items, up to the last
// cutoff). Memory: two timestamps per item and per user index, one (user, item) pair per window
// positive and one item per pre-cutoff event of a candidate user; no event payload is held.
// ValidationSplit and MakeSplit replay only up to their window's end.
//
//   FUNNEL_ASSIGN_OR_RETURN(std::vector<Split> folds, RollingFolds(store, cfg.events, {}));
//   for (const Split& s : folds) { train on events < s.cutoff; score s.users; }
//
// Thread-safety: functions are reentrant; a Split is an immutable value. The store should not
// receive events during a call (the passes would see different event sets).
#pragma once

#include <cstdint>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/events/labels.h"
#include "funnel/store/event_store.h"

namespace funnel::eval {

struct TestUser {
  UserIdx user{};
  std::vector<ItemIdx> truth;  // sorted, unique, never empty
  std::vector<ItemIdx> own;    // items the user touched before the cutoff, sorted, unique
};

struct Split {
  int fold = 0;             // 1..folds for test folds; 0 for a validation split
  Timestamp cutoff;         // train on events with ts < cutoff
  Timestamp end;            // test window [cutoff, end)
  uint64_t train_events = 0;   // events with ts < cutoff
  uint64_t window_events = 0;  // events in [cutoff, end), any type
  std::vector<ItemIdx> catalog;  // items seen by anyone before the cutoff, sorted: the ranking universe
  std::vector<TestUser> users;   // in user index order
};

struct ProtocolOptions {
  int folds = 5;  // 1..9: the windows are the last `folds` tenths of the events
};

// Whether an event counts as a positive: a `rating` whose value is at least
// rating_positive_threshold (explicit data; a rating without a value is not a positive), or an
// event of one of positive_types (implicit data). `rating` follows the threshold rule even when
// listed in positive_types. This is events::LabelRule, the rule the training set and the
// dataset builder label with, resolved once for the store's types: types the store did not
// know at construction are not positives.
class PositiveRule {
 public:
  PositiveRule(const store::EventStore& store, const EventsConfig& events);
  bool operator()(const store::StoredEvent& e) const;

 private:
  events::LabelRule rule_;
  std::vector<events::TypeLabel> by_type_;  // the store's types at construction
};

// The protocol's folds, in fold order. Fails when options.folds is outside 1..9 or the store
// holds fewer than 10 events (the tenths would not fall on distinct events).
StatusOr<std::vector<Split>> RollingFolds(const store::EventStore& store, const EventsConfig& events,
                                          const ProtocolOptions& options);

// A split with cutoff c and window [c, end), fold 0: for validation carve-outs and for tests.
// Fails when end <= cutoff.
StatusOr<Split> MakeSplit(const store::EventStore& store, const EventsConfig& events, Timestamp cutoff,
                          Timestamp end);

// The validation split for a training part that ends at `train_end`: with the M events before
// train_end, its cutoff is q'(1 − fraction) under the convention above (index ⌊(1−fraction)·M⌋
// of those events) and its window is [cutoff, train_end). Fails unless 0 < fraction < 1 and
// both sides of the cutoff hold at least one event.
StatusOr<Split> ValidationSplit(const store::EventStore& store, const EventsConfig& events,
                                Timestamp train_end, double fraction = 0.1);

}  // namespace funnel::eval
