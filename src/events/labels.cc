#include "funnel/events/labels.h"

#include <algorithm>
#include <utility>

namespace funnel::events {

LabelRule::LabelRule(const EventsConfig& events)
    : positive_types_(events.positive_types), rating_threshold_(events.rating_positive_threshold) {}

TypeLabel LabelRule::OfType(std::string_view type) const {
  TypeLabel l;
  // Precedence as the dataset builder, protocol and training set each had it: the exposure and
  // the rating keep their own meaning whatever positive_types says (the config refuses
  // "impression" there), and a listed type wins over the built-in negatives.
  const bool listed = std::find(positive_types_.begin(), positive_types_.end(), type) != positive_types_.end();
  if (type == "impression") l.role = LabelRole::kExposure;
  else if (type == "rating") l.role = LabelRole::kRating;
  else if (listed) l.role = LabelRole::kPositive;
  else if (type == "skip" || type == "dislike") l.role = LabelRole::kNegative;
  l.like = type == "like";
  l.share = type == "share";
  l.skip = type == "skip";
  l.watch = type == "watch" || type == "view";
  return l;
}

TypeLabels::TypeLabels(LabelRule rule, TypeNameFn type_name)
    : rule_(std::move(rule)), type_name_(std::move(type_name)) {}

const TypeLabel& TypeLabels::operator[](TypeIdx type) {
  const size_t t = Raw(type);
  if (labels_.size() <= t) {
    labels_.resize(t + 1);
    resolved_.resize(t + 1, 0);
  }
  if (!resolved_[t]) {
    labels_[t] = rule_.OfType(type_name_(type));
    resolved_[t] = 1;
  }
  return labels_[t];
}

}  // namespace funnel::events
