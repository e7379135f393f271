#include "funnel/eval/protocol.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace funnel::eval {

namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// Events with ts in [from, to).
StatusOr<uint64_t> CountEvents(const store::EventStore& store, Timestamp from, Timestamp to) {
  uint64_t n = 0;
  FUNNEL_RETURN_IF_ERROR(store.Replay(from, to, [&](const store::StoredEvent&) {
    ++n;
    return true;
  }));
  return n;
}

// The timestamps of the events at the given 0-based indexes (ascending) of the time-ordered
// events in [from, to), which must number `total`: otherwise the store changed under us.
StatusOr<std::vector<Timestamp>> TimesAt(const store::EventStore& store, Timestamp from, Timestamp to,
                                         const std::vector<uint64_t>& indexes, uint64_t total) {
  std::vector<Timestamp> out;
  out.reserve(indexes.size());
  uint64_t i = 0;
  FUNNEL_RETURN_IF_ERROR(store.Replay(from, to, [&](const store::StoredEvent& e) {
    while (out.size() < indexes.size() && indexes[out.size()] == i) out.push_back(e.ts);
    ++i;
    return true;
  }));
  if (i != total || out.size() != indexes.size())
    return absl::FailedPreconditionError(Cat("evaluation protocol: expected ", total, " events, replayed ", i,
                                             "; the event store changed during the split"));
  return out;
}

// ⌊p·n⌋, taking a product within rounding error of an integer as that integer so that, e.g.,
// 0.9·90000 never lands on 80999.
uint64_t FloorTimes(double p, uint64_t n) {
  double x = p * static_cast<double>(n);
  double r = std::round(x);
  if (std::fabs(x - r) <= 1e-9 * std::max(1.0, x)) return static_cast<uint64_t>(r);
  return static_cast<uint64_t>(std::floor(x));
}

void SetFirst(std::vector<int64_t>& first, uint32_t idx, int64_t ts) {
  if (idx >= first.size()) first.resize(size_t{idx} + 1, kNever);
  if (first[idx] == kNever) first[idx] = ts;  // replay is in time order: the first is the earliest
}

bool SeenBefore(const std::vector<int64_t>& first, uint32_t idx, int64_t cutoff) {
  return idx < first.size() && first[idx] < cutoff;
}

// Builds every split (each given its cutoff and end) in two replays:
//  1. [min, last end): first event time per item and user, event counts, and each split's window
//     positives on items seen before its cutoff by users with history there (the candidates);
//  2. [min, last cutoff): the candidates' own items before each cutoff.
// One replay for `own` beats a UserHistory scan per candidate: a user who is a candidate in
// several folds would be read once per fold, and the scans seek across the history index.
StatusOr<std::vector<Split>> BuildSplits(const store::EventStore& store, const EventsConfig& events,
                                         std::vector<Split> splits) {
  if (splits.empty()) return splits;
  PositiveRule positive(store, events);
  Timestamp last_end = splits.front().end;
  for (const Split& s : splits) last_end = std::max(last_end, s.end);

  // First event time per item and per user: "seen before c" is then first < c for any c, so one
  // replay serves every split without a set per split.
  std::vector<int64_t> item_first(store.NumItems(), kNever);
  std::vector<int64_t> user_first(store.NumUsers(), kNever);
  // Window positives per split, as (user, item), before the `own` filter.
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> candidates(splits.size());

  FUNNEL_RETURN_IF_ERROR(store.Replay(Timestamp::Min(), last_end, [&](const store::StoredEvent& e) {
    const uint32_t user = Raw(e.user), item = Raw(e.item);
    for (size_t k = 0; k < splits.size(); ++k) {
      Split& s = splits[k];
      if (e.ts < s.cutoff) {
        ++s.train_events;
      } else if (e.ts < s.end) {
        ++s.window_events;
        const int64_t c = s.cutoff.micros();
        if (SeenBefore(user_first, user, c) && SeenBefore(item_first, item, c) && positive(e))
          candidates[k].emplace_back(user, item);
      }
    }
    SetFirst(item_first, item, e.ts.micros());
    SetFirst(user_first, user, e.ts.micros());
    return true;
  }));

  // Candidate users per split (truth not yet filtered), and where each user's lists live.
  std::vector<std::vector<TestUser>> pending(splits.size());
  absl::flat_hash_map<uint32_t, std::vector<std::pair<uint32_t, uint32_t>>> slots;  // user -> (split, index)
  Timestamp last_cutoff = Timestamp::Min();
  for (size_t k = 0; k < splits.size(); ++k) {
    Split& s = splits[k];
    const int64_t c = s.cutoff.micros();
    for (uint32_t i = 0; i < item_first.size(); ++i)
      if (item_first[i] < c) s.catalog.push_back(ItemIdx{i});

    std::vector<std::pair<uint32_t, uint32_t>>& cand = candidates[k];
    std::sort(cand.begin(), cand.end());
    cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
    for (size_t a = 0; a < cand.size();) {
      TestUser tu;
      tu.user = UserIdx{cand[a].first};
      for (; a < cand.size() && cand[a].first == Raw(tu.user); ++a) tu.truth.push_back(ItemIdx{cand[a].second});
      slots[Raw(tu.user)].emplace_back(static_cast<uint32_t>(k), static_cast<uint32_t>(pending[k].size()));
      pending[k].push_back(std::move(tu));
    }
    std::vector<std::pair<uint32_t, uint32_t>>().swap(cand);
    if (!pending[k].empty()) last_cutoff = std::max(last_cutoff, s.cutoff);
  }

  FUNNEL_RETURN_IF_ERROR(store.Replay(Timestamp::Min(), last_cutoff, [&](const store::StoredEvent& e) {
    auto it = slots.find(Raw(e.user));
    if (it == slots.end()) return true;
    for (auto [k, index] : it->second)
      if (e.ts < splits[k].cutoff) pending[k][index].own.push_back(e.item);
    return true;
  }));

  for (size_t k = 0; k < splits.size(); ++k) {
    for (TestUser& tu : pending[k]) {
      std::sort(tu.own.begin(), tu.own.end());
      tu.own.erase(std::unique(tu.own.begin(), tu.own.end()), tu.own.end());
      std::erase_if(tu.truth, [&](ItemIdx i) { return std::binary_search(tu.own.begin(), tu.own.end(), i); });
      if (!tu.truth.empty()) splits[k].users.push_back(std::move(tu));
    }
  }
  return splits;
}

}  // namespace

PositiveRule::PositiveRule(const store::EventStore& store, const EventsConfig& events) : rule_(events) {
  const uint32_t n = store.NumTypes();
  by_type_.reserve(n);
  for (uint32_t t = 0; t < n; ++t) by_type_.push_back(rule_.OfType(store.TypeName(TypeIdx{static_cast<uint16_t>(t)})));
}

bool PositiveRule::operator()(const store::StoredEvent& e) const {
  const uint16_t t = Raw(e.type);
  return t < by_type_.size() && rule_.IsPositive(by_type_[t], e.value);
}

StatusOr<std::vector<Split>> RollingFolds(const store::EventStore& store, const EventsConfig& events,
                                          const ProtocolOptions& options) {
  const int folds = options.folds;
  if (folds < 1 || folds > 9)
    return absl::InvalidArgumentError(Cat("evaluation protocol: folds must be 1..9, got ", folds));
  // The store's counter saves a counting replay; the replay below checks it.
  const uint64_t n = store.Stats().events;
  if (n < 10)
    return absl::FailedPreconditionError(
        Cat("evaluation protocol: needs at least 10 events to place the fold cutoffs, the store holds ", n));

  // Boundary b (0..folds-1) sits at tenth 10 - folds + b; the last fold ends at the final event.
  std::vector<uint64_t> indexes;
  for (int b = 0; b < folds; ++b) indexes.push_back(static_cast<uint64_t>(10 - folds + b) * n / 10);
  indexes.push_back(n - 1);
  FUNNEL_ASSIGN_OR_RETURN(std::vector<Timestamp> times,
                          TimesAt(store, Timestamp::Min(), Timestamp::Max(), indexes, n));

  std::vector<Split> splits(folds);
  for (int f = 0; f < folds; ++f) {
    splits[f].fold = f + 1;
    splits[f].cutoff = times[f];
    splits[f].end = f + 1 < folds ? times[f + 1] : Timestamp::FromMicros(times[folds].micros() + 1);
  }
  return BuildSplits(store, events, std::move(splits));
}

StatusOr<Split> MakeSplit(const store::EventStore& store, const EventsConfig& events, Timestamp cutoff,
                          Timestamp end) {
  if (end <= cutoff)
    return absl::InvalidArgumentError(Cat("evaluation split: the window end (", FormatUtc(end),
                                          ") must come after the cutoff (", FormatUtc(cutoff), ")"));
  std::vector<Split> one(1);
  one[0].cutoff = cutoff;
  one[0].end = end;
  FUNNEL_ASSIGN_OR_RETURN(std::vector<Split> built, BuildSplits(store, events, std::move(one)));
  return std::move(built[0]);
}

StatusOr<Split> ValidationSplit(const store::EventStore& store, const EventsConfig& events,
                                Timestamp train_end, double fraction) {
  if (!(fraction > 0 && fraction < 1))
    return absl::InvalidArgumentError(Cat("validation split: fraction must be in (0, 1), got ", fraction));
  FUNNEL_ASSIGN_OR_RETURN(uint64_t m, CountEvents(store, Timestamp::Min(), train_end));
  const uint64_t index = FloorTimes(1 - fraction, m);
  if (m == 0 || index == 0 || index >= m)
    return absl::FailedPreconditionError(
        Cat("validation split: ", m, " events before ", FormatUtc(train_end), " leave no room for a ",
            fraction, " validation window with a training part before it"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<Timestamp> times,
                          TimesAt(store, Timestamp::Min(), train_end, {0, index}, m));
  if (times[1] <= times[0])
    return absl::FailedPreconditionError(
        Cat("validation split: every event before ", FormatUtc(times[1]),
            " shares its timestamp, so no training part precedes the validation window"));
  return MakeSplit(store, events, times[1], train_end);
}

}  // namespace funnel::eval
