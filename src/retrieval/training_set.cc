#include "funnel/retrieval/training_set.h"

#include <algorithm>
#include <cmath>

#include <simdjson.h>

#include "absl/container/flat_hash_map.h"

#include "funnel/core/logging.h"

namespace funnel::retrieval {

namespace {

double Duration(simdjson::dom::parser& parser, const std::string& attributes) {
  if (attributes.empty()) return 0;
  simdjson::dom::element root, v;
  if (parser.parse(attributes).get(root) || root["duration"].get(v) || !v.is_number()) return 0;
  double d = v.get_double().value_unsafe();
  return d > 0 ? d : 0;
}

}  // namespace

StrengthRule::StrengthRule(const store::EventStore& store, const EventsConfig& events,
                           const TrainingSetOptions& options)
    : store_(store),
      events_(events),
      labels_(events::LabelRule(events), [&store](TypeIdx t) { return store.TypeName(t); }),
      options_(options) {
  duration_.assign(store.NumItems(), 0);
  simdjson::dom::parser parser;
  Status s = store.ForEachItem([&](ItemIdx i, const events::Item& it) {
    if (Raw(i) < duration_.size()) duration_[Raw(i)] = Duration(parser, it.attributes);
    return true;
  });
  if (!s.ok()) spdlog::warn("item metadata unreadable ({}); watch strengths ignore durations", MessageOf(s));
}

const StrengthRule::TypeRule& StrengthRule::Rule(TypeIdx type) {
  if (rules_.size() <= Raw(type)) rules_.resize(Raw(type) + 1);
  TypeRule& r = rules_[Raw(type)];
  if (!r.resolved) {
    std::string name = store_.TypeName(type);
    r = {true, events_.WeightOf(name), labels_[type].role == events::LabelRole::kRating, name == "watch"};
  }
  return r;
}

bool StrengthRule::Positive(TypeIdx type, std::optional<double> value) { return labels_.IsPositive(type, value); }

double StrengthRule::Strength(TypeIdx type, std::optional<double> value, ItemIdx item, Timestamp ts, Timestamp now) {
  const TypeRule& r = Rule(type);
  if (r.weight == 0) return 0;
  double s = r.weight;
  if (r.rating) {
    if (!labels_.IsPositive(type, value)) s *= options_.low_rating;
  } else if (r.watch && value && Raw(item) < duration_.size() && duration_[Raw(item)] > 0) {
    s *= std::min(*value / duration_[Raw(item)], options_.max_watch_ratio);
  }
  if (options_.half_life_days > 0)
    s *= std::exp2(-static_cast<double>(now.micros() - ts.micros()) / (options_.half_life_days * 86400e6));
  return s;
}

bool IsPositiveEvent(const EventsConfig& events, std::string_view type, std::optional<double> value) {
  return events::LabelRule(events).IsPositive(type, value);
}

StatusOr<UserState> BuildUserState(const store::EventStore& store, StrengthRule& rule, UserIdx user,
                                   Timestamp until, size_t recent_items) {
  UserState st;
  st.user = Raw(user);
  // Summed as the training set sums them (float per event, in time order: CsrMatrix::FromTriplets),
  // so a user's state at the cutoff is bit for bit their training row.
  absl::flat_hash_map<uint32_t, float> strength;
  std::vector<uint32_t> positives;  // oldest first
  FUNNEL_RETURN_IF_ERROR(store.UserHistory(user, Timestamp::Min(), until, [&](const store::HistoryEntry& h) {
    st.exclude.insert(Raw(h.item));
    const double s = rule.Strength(h.type, h.value, h.item, h.ts, until);
    if (s != 0) strength[Raw(h.item)] += static_cast<float>(s);
    if (rule.Positive(h.type, h.value)) positives.push_back(Raw(h.item));
    return true;
  }));
  for (const auto& [item, s] : strength) {
    if (s == 0) continue;
    st.items.push_back(item);
  }
  std::sort(st.items.begin(), st.items.end());
  for (uint32_t item : st.items) st.strengths.push_back(strength[item]);
  for (auto it = positives.rbegin(); it != positives.rend() && st.recent.size() < recent_items; ++it)
    if (std::find(st.recent.begin(), st.recent.end(), *it) == st.recent.end()) st.recent.push_back(*it);
  return st;
}

StatusOr<TrainingSet> BuildTrainingSet(const store::EventStore& store, const EventsConfig& events,
                                       Timestamp cutoff, const TrainingSetOptions& options) {
  TrainingSet ts;
  ts.cutoff = cutoff;
  ts.num_users = store.NumUsers();
  ts.num_items = store.NumItems();
  ts.item_seen.assign(ts.num_items, 0);
  ts.item_first_seen_us.assign(ts.num_items, TrainingSet::kNever);
  ts.item_created_us.assign(ts.num_items, TrainingSet::kNever);
  ts.user_recent.resize(ts.num_users);

  FUNNEL_RETURN_IF_ERROR(store.ForEachItem([&](ItemIdx i, const events::Item& it) {
    if (Raw(i) < ts.num_items && it.ts) ts.item_created_us[Raw(i)] = it.ts->micros();
    return true;
  }));

  StrengthRule rule(store, events, options);
  std::vector<Triplet> triplets;
  FUNNEL_RETURN_IF_ERROR(store.Replay(Timestamp::Min(), cutoff, [&](const store::StoredEvent& e) {
    const uint32_t u = Raw(e.user), i = Raw(e.item);
    if (u >= ts.num_users || i >= ts.num_items) return true;  // stored after the dictionaries were read
    ++ts.events;
    if (!ts.item_seen[i]) {
      ts.item_seen[i] = 1;
      ts.item_first_seen_us[i] = e.ts.micros();
    }
    if (rule.Positive(e.type, e.value)) ts.positives.push_back({e.ts.micros(), u, i});
    const double s = rule.Strength(e.type, e.value, e.item, e.ts, cutoff);
    if (s != 0) triplets.push_back({u, i, static_cast<float>(s)});
    return true;
  }));
  ts.user_items = CsrMatrix::FromTriplets(ts.num_users, ts.num_items, std::move(triplets));

  for (uint32_t i = 0; i < ts.num_items; ++i) {
    if (!ts.item_seen[i]) continue;
    ts.catalog.push_back(i);
    // An item is new on the platform when it first shows up in the logs (a catalog import of old
    // films carries release dates long before); the upload time only matters for unseen items.
    ts.item_created_us[i] = ts.item_first_seen_us[i];
  }
  // Newest positives first, each item once.
  for (auto it = ts.positives.rbegin(); it != ts.positives.rend(); ++it) {
    auto& recent = ts.user_recent[it->user];
    if (recent.size() >= options.recent_items) continue;
    if (std::find(recent.begin(), recent.end(), it->item) == recent.end()) recent.push_back(it->item);
  }
  return ts;
}

}  // namespace funnel::retrieval
