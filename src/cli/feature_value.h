// How a feature value prints in `funnel features` and `funnel demo`: `missing` for NaN,
// categoricals (category, creator, ...) as the string they encode, numbers to 6 digits.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "funnel/events/event.h"
#include "funnel/features/feature_spec.h"

namespace funnel::cli {

// The spec named `name`, or null.
const features::FeatureSpec* FindSpec(const std::vector<features::FeatureSpec>& specs, std::string_view name);

// `item` and `user` are the stored metadata of the request's item and user (null when none).
std::string FeatureValueText(const features::FeatureSpec& f, float v, const events::Item* item,
                             const events::User* user);

}  // namespace funnel::cli
