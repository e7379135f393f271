#include "funnel/eval/metrics_json.h"

namespace funnel::eval {

void WriteMetricValueJson(JsonWriter& w, const MetricValue& v) {
  w.StartObject().Key("mean").Double(v.mean).Key("stderr").Double(v.stderr_).EndObject();
}

void WriteMetricsJson(JsonWriter& w, const MetricsSummary& s) {
  w.StartObject().Key(kPairsKey).Uint(s.users);
  const std::pair<std::string_view, const MetricValue*> values[] = {
      {kNdcg10Key, &s.ndcg10},   {kNdcg20Key, &s.ndcg20},       {kRecall20Key, &s.recall20},
      {kHitRate10Key, &s.hit10}, {kRecall100Key, &s.recall100}, {kRecall500Key, &s.recall500},
  };
  for (const auto& [key, value] : values) {
    w.Key(key);
    WriteMetricValueJson(w, *value);
  }
  w.Key(kCoverage10Key).Double(s.coverage10).EndObject();
}

}  // namespace funnel::eval
