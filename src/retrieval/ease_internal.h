// EASE's fit with the knobs the public TrainEase fixes, for its benchmark and tests.
#pragma once

#include "funnel/retrieval/ease.h"

namespace funnel::retrieval {

// kAuto (what TrainEase uses): float, redone in double when the float factor shows a
// condition number at which float would lose visible precision.
enum class EasePrecision { kAuto, kDouble, kFloat };

struct EaseFitTimes {
  double gram_seconds = 0;
  double factor_seconds = 0;   // Cholesky of XᵀX + λI
  double inverse_seconds = 0;  // P from the factor, then B from P
  double condition_estimate = 0;  // (max L_ii / min L_ii)², a lower bound on cond(XᵀX + λI)
  bool used_double = false;
};

// Above this estimated condition number kAuto refits in double: float's 6e-8 relative rounding
// times the condition number bounds the relative error in P, and 1e-3 is where rankings of
// near-tied items could start to move.
constexpr double kFloatConditionLimit = 1e4;

StatusOr<EaseModel> TrainEaseWith(const CsrMatrix& user_items, const EaseOptions& options,
                                  EasePrecision precision, EaseFitTimes* times);

}  // namespace funnel::retrieval
