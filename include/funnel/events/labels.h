// Which events are exposures, positives and negatives: the one rule that the evaluation
// protocol, the retrieval training set and the feature dataset builder all label with, built
// from the [events] config so that a changed threshold or positive type moves all of them.
//
//  - "impression" is an exposure: an item was shown; it is never a positive.
//  - "rating" is a positive when its value is at least rating_positive_threshold (explicit
//    data); a rating without a value is not. This holds even when "rating" is listed in
//    positive_types.
//  - A type listed in positive_types is a positive (implicit data).
//  - "skip" and "dislike" are negative feedback, unless listed in positive_types.
//  - Anything else (an unlisted standard or custom type) labels nothing.
// Type names are matched exactly: "Like" is not "like" (event types are case-sensitive ids).
//
//   LabelRule rule(cfg.events);
//   TypeLabels labels(rule, [&](TypeIdx t) { return store.TypeName(t); });
//   store.Replay(from, to, [&](const store::StoredEvent& e) {
//     if (labels.IsPositive(e.type, e.value)) ...;
//     return true;
//   });
//
// Thread-safety: LabelRule is immutable and safe to share; TypeLabels caches per type and is
// not safe for concurrent use (one per thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/ids.h"

namespace funnel::events {

enum class LabelRole : uint8_t {
  kNone,      // labels nothing
  kExposure,  // "impression"
  kPositive,  // a type of positive_types
  kRating,    // "rating": positive at or above the threshold
  kNegative,  // "skip", "dislike"
};

// What one event type means for labels. The flags name the standard types whose own label
// columns the dataset builder keeps (liked, shared, skipped, watch seconds).
struct TypeLabel {
  LabelRole role = LabelRole::kNone;
  bool like = false, share = false, skip = false, watch = false;  // watch: "watch" or "view"
};

class LabelRule {
 public:
  explicit LabelRule(const EventsConfig& events);

  TypeLabel OfType(std::string_view type) const;
  bool IsPositive(const TypeLabel& type, std::optional<double> value) const {
    return type.role == LabelRole::kPositive ||
           (type.role == LabelRole::kRating && value.has_value() && *value >= rating_threshold_);
  }
  bool IsPositive(std::string_view type, std::optional<double> value) const {
    return IsPositive(OfType(type), value);
  }
  double rating_threshold() const { return rating_threshold_; }

 private:
  std::vector<std::string> positive_types_;
  double rating_threshold_;
};

// A LabelRule resolved once per dense type index (a store's type dictionary), so a replay pays
// a table lookup per event instead of string compares. Types are resolved on first use through
// `type_name`, so types stored after construction are labelled like the others.
class TypeLabels {
 public:
  using TypeNameFn = std::function<std::string(TypeIdx)>;
  TypeLabels(LabelRule rule, TypeNameFn type_name);

  const TypeLabel& operator[](TypeIdx type);
  bool IsPositive(TypeIdx type, std::optional<double> value) { return rule_.IsPositive((*this)[type], value); }
  const LabelRule& rule() const { return rule_; }

 private:
  LabelRule rule_;
  TypeNameFn type_name_;
  std::vector<TypeLabel> labels_;
  std::vector<uint8_t> resolved_;
};

}  // namespace funnel::events
