// How a feature value prints in `funnel features` and `funnel demo`: `missing` for NaN,
// categoricals (category, creator, ...) as the string they encode, numbers to 6 digits.
#pragma once

#include <string>

#include "funnel/events/event.h"
#include "funnel/features/feature_spec.h"

namespace funnel::cli {

// `item` and `user` are the stored metadata of the request's item and user (null when none).
std::string FeatureValueText(const features::FeatureSpec& f, float v, const events::Item* item,
                             const events::User* user);

}  // namespace funnel::cli
