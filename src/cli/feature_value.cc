#include "cli/feature_value.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "funnel/features/feature_fold.h"

namespace funnel::cli {

const features::FeatureSpec* FindSpec(const std::vector<features::FeatureSpec>& specs, std::string_view name) {
  auto it = std::find_if(specs.begin(), specs.end(), [&](const auto& s) { return s.name == name; });
  return it == specs.end() ? nullptr : &*it;
}

// How a value prints: categoricals as the string they encode, the rest as numbers.
// Static features read the metadata stored now (the fold does the same: metadata has no
// history), so the string comes from the event store's item and user records rather than from
// a reverse map of codes, which would have to be built from every record at each run. It is
// printed only when its code is the value computed, so a stale online store cannot make the
// output disagree with what a model would see.
std::string FeatureValueText(const features::FeatureSpec& f, float v, const events::Item* item, const events::User* user) {
  if (std::isnan(v)) return "missing";
  if (std::optional<std::string> text = features::StaticFeatureText(f, item, user))
    if (static_cast<float>(features::CategoricalCode(*text)) == v) return text->empty() ? "\"\"" : *text;
  return fmt::format("{:.6g}", v);
}

}  // namespace funnel::cli
