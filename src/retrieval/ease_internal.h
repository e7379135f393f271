// EASE's fit with the knobs the public TrainEase fixes, for its benchmark and tests.
#pragma once

#include "funnel/retrieval/ease.h"

namespace funnel::retrieval {

enum class EasePrecision { kDouble, kFloat };

struct EaseFitTimes {
  double gram_seconds = 0;
  double factor_seconds = 0;   // Cholesky of XᵀX + λI
  double inverse_seconds = 0;  // P from the factor, then B from P
};

StatusOr<EaseModel> TrainEaseWith(const CsrMatrix& user_items, const EaseOptions& options,
                                  EasePrecision precision, EaseFitTimes* times);

}  // namespace funnel::retrieval
