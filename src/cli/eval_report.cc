#include "cli/eval_report.h"

#include <fmt/format.h>

namespace funnel::cli {

void PrintTable(const training::EvaluationReport& r, std::ostream& out) {
  out << fmt::format("{:<12} {:>16} {:>16} {:>16} {:>16} {:>8} {:>10} {:>10}\n", "", "NDCG@10", "NDCG@20", "Recall@20",
                     "HitRate@10", "Cov@10", "Recall@100", "Recall@500");
  for (size_t i = 0; i < r.rows.size(); ++i) {
    eval::MetricsSummary s = r.metrics[i].Overall();
    auto pm = [](const eval::MetricValue& m) { return fmt::format("{:.4f} ±{:.4f}", m.mean, m.stderr_); };
    if (r.rows[i] == "candidates") {
      out << fmt::format("{:<12} {:>16} {:>16} {:>16} {:>16} {:>8} {:>10.4f} {:>10.4f}\n", r.rows[i], "", "", "", "", "",
                         s.recall100.mean, s.recall500.mean);
    } else {
      out << fmt::format("{:<12} {:>16} {:>16} {:>16} {:>16} {:>8.4f}\n", r.rows[i], pm(s.ndcg10), pm(s.ndcg20),
                         pm(s.recall20), pm(s.hit10), s.coverage10);
    }
  }
}

}  // namespace funnel::cli
