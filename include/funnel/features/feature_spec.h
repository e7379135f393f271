// Feature definitions: declared in the config file (`[[features]]` tables), not in code.
//
// A streaming feature folds the events of some types, for one entity, into a number:
//   [[features]]
//   name = "user_likes_1d"        # unique, [a-z0-9_]
//   entity = "user"               # user | item | user_category | user_creator | global
//   aggregation = "count"         # count | sum | mean | last | time_since | last_n | ratio
//   types = { like = 1.0 }        # event types folded, with weights
//   value = "one"                 # what an event adds: one | value | watch_ratio
//   half_life = "1d"              # exponential decay; or window = "7d"; neither = all time
// `ratio` divides two other features: numerator = "...", denominator = "...", with optional
// smoothing toward `prior_mean` with weight `prior_weight`:
//   (numerator + prior_mean * prior_weight) / (denominator + prior_weight)
// and missing when the denominator is 0 (no event of its types in its window or ever; a
// decayed count is 0 only then): with no denominator events the prior would be all there is,
// and it would read as data. A ratio is not capped: it exceeds 1 when the numerator's events
// are not a subset of the denominator's (likes logged without their impressions), or when the
// two parts decay with different half-lives or windows; give both parts the same horizon.
// A static feature reads metadata instead: source = "item.age" | "item.duration" |
// "item.category" | "item.creator" | "item.attribute.<key>" | "user.attribute.<key>".
//
// Entities user_category and user_creator are evaluated for a (user, item) pair through the
// item's categories (combined with `combine` = max | min | sum | mean, default max) and creator.
// Missing values (an entity never seen, a ratio over a zero denominator, an absent attribute)
// are NaN.
// Categoricals (item.category, item.creator, string attributes) are encoded as a stable 24-bit
// hash of the string (CategoricalCode in feature_fold.h), so the same value gets the same code
// in every run and process; StaticFeatureText gives back the string for output.
// Thread-safety: parsing is reentrant; a FeatureSpec is a value type.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/status.h"

namespace funnel::features {

enum class Entity { kUser, kItem, kUserCategory, kUserCreator, kGlobal };
enum class Aggregation { kCount, kSum, kMean, kLast, kTimeSince, kLastN, kRatio, kStatic };
enum class ValueMode { kOne, kValue, kWatchRatio };
enum class Combine { kMax, kMin, kSum, kMean };

struct FeatureSpec {
  std::string name;
  Entity entity = Entity::kUser;
  Aggregation aggregation = Aggregation::kCount;
  std::map<std::string, double, std::less<>> types;  // event type -> weight
  ValueMode value = ValueMode::kOne;
  double half_life_seconds = 0;  // > 0: exponential decay
  double window_seconds = 0;     // > 0: fixed window (12 buckets)
  int last_n = 0;
  std::string numerator, denominator;
  double prior_mean = 0, prior_weight = 0;
  Combine combine = Combine::kMax;
  std::string source;  // static features

  bool numeric() const { return aggregation != Aggregation::kLastN; }
};

// Parses the `[[features]]` tables of a TOML document; with none, returns DefaultFeatureSpecs().
// Errors name the feature and what is wrong ("feature 'x': unknown entity 'usr'; known: ...").
StatusOr<std::vector<FeatureSpec>> ParseFeatureSpecs(std::string_view toml_text,
                                                     std::string_view source_name);

// The shipped set: short-video signals (activity, like/skip/watch rates at several horizons,
// item popularity and quality, user affinity to the item's categories and creator, recency)
// and ratings-only equivalents (rating counts and means, genre affinity from ratings).
std::vector<FeatureSpec> DefaultFeatureSpecs();

// Parses "90s", "30m", "1h", "1d", "2w" into seconds.
StatusOr<double> ParseDuration(std::string_view text);

std::string_view EntityName(Entity e);

}  // namespace funnel::features
