// The evaluation table shared by `funnel eval` and `funnel demo`.
#pragma once

#include <ostream>

#include "funnel/training/evaluation.h"

namespace funnel::cli {

// One row per source, the candidates (Recall@100/@500) and the final list; mean ± standard error.
void PrintTable(const training::EvaluationReport& r, std::ostream& out);

}  // namespace funnel::cli
