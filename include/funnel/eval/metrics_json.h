// The one JSON shape of a MetricsSummary, wherever one is written (`funnel eval --json`, the
// model manifest's validation rows; docs/formats/json.md):
//   {"pairs":N,"ndcg@10":{"mean":m,"stderr":s},"ndcg@20":{..},"recall@20":{..},
//    "hitrate@10":{..},"recall@100":{..},"recall@500":{..},"coverage@10":c}
//
// Thread-safety: pure functions.
#pragma once

#include "funnel/core/json_writer.h"
#include "funnel/eval/metrics.h"

namespace funnel::eval {

// Key names, for readers.
inline constexpr std::string_view kPairsKey = "pairs";
inline constexpr std::string_view kNdcg10Key = "ndcg@10";
inline constexpr std::string_view kNdcg20Key = "ndcg@20";
inline constexpr std::string_view kRecall20Key = "recall@20";
inline constexpr std::string_view kHitRate10Key = "hitrate@10";
inline constexpr std::string_view kRecall100Key = "recall@100";
inline constexpr std::string_view kRecall500Key = "recall@500";
inline constexpr std::string_view kCoverage10Key = "coverage@10";

// {"mean":m,"stderr":s}
void WriteMetricValueJson(JsonWriter& w, const MetricValue& v);
// The object above, as one value (the caller writes its key).
void WriteMetricsJson(JsonWriter& w, const MetricsSummary& s);

}  // namespace funnel::eval
