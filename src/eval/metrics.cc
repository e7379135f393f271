#include "funnel/eval/metrics.h"

#include <algorithm>
#include <cmath>

namespace funnel::eval {

namespace {

double Discount(size_t rank0) { return 1.0 / std::log2(static_cast<double>(rank0) + 2.0); }

double IdealDcg(size_t hits) {
  double d = 0;
  for (size_t r = 0; r < hits; ++r) d += Discount(r);
  return d;
}

// Fills a summary's mean and standard error from the per-user values `get` reads.
template <typename Get>
MetricValue Summarize(const std::vector<const UserMetrics*>& users, Get get) {
  MetricValue v;
  const size_t n = users.size();
  if (n == 0) return v;
  double sum = 0;
  for (const UserMetrics* m : users) sum += get(*m);
  v.mean = sum / static_cast<double>(n);
  if (n < 2) return v;
  double ss = 0;  // two passes: the one-pass formula loses precision when values are close
  for (const UserMetrics* m : users) ss += (get(*m) - v.mean) * (get(*m) - v.mean);
  v.stderr_ = std::sqrt(ss / static_cast<double>(n - 1)) / std::sqrt(static_cast<double>(n));
  return v;
}

MetricsSummary SummarizeAll(const std::vector<const UserMetrics*>& users) {
  MetricsSummary s;
  s.users = users.size();
  s.recall20 = Summarize(users, [](const UserMetrics& m) { return m.recall20; });
  s.ndcg10 = Summarize(users, [](const UserMetrics& m) { return m.ndcg10; });
  s.ndcg20 = Summarize(users, [](const UserMetrics& m) { return m.ndcg20; });
  s.hit10 = Summarize(users, [](const UserMetrics& m) { return m.hit10; });
  s.recall100 = Summarize(users, [](const UserMetrics& m) { return m.recall100; });
  s.recall500 = Summarize(users, [](const UserMetrics& m) { return m.recall500; });
  return s;
}

}  // namespace

UserMetrics ScoreList(std::span<const ItemIdx> ranked, std::span<const ItemIdx> truth) {
  UserMetrics m;
  if (truth.empty()) return m;
  const size_t limit = std::min<size_t>(ranked.size(), 500);
  // Truth items already hit, so an item listed twice counts once.
  std::vector<bool> found(truth.size(), false);
  size_t hits10 = 0, hits20 = 0, hits100 = 0, hits500 = 0;
  double dcg10 = 0, dcg20 = 0;
  for (size_t r = 0; r < limit; ++r) {
    auto it = std::lower_bound(truth.begin(), truth.end(), ranked[r]);
    if (it == truth.end() || *it != ranked[r]) continue;
    const size_t pos = static_cast<size_t>(it - truth.begin());
    if (found[pos]) continue;
    found[pos] = true;
    if (r < 10) {
      ++hits10;
      dcg10 += Discount(r);
    }
    if (r < 20) {
      ++hits20;
      dcg20 += Discount(r);
    }
    if (r < 100) ++hits100;
    ++hits500;
  }
  const size_t n = truth.size();
  m.recall20 = static_cast<double>(hits20) / static_cast<double>(std::min<size_t>(20, n));
  m.ndcg10 = dcg10 / IdealDcg(std::min<size_t>(10, n));
  m.ndcg20 = dcg20 / IdealDcg(std::min<size_t>(20, n));
  m.hit10 = hits10 > 0 ? 1.0 : 0.0;
  m.recall100 = static_cast<double>(hits100) / static_cast<double>(std::min<size_t>(100, n));
  m.recall500 = static_cast<double>(hits500) / static_cast<double>(std::min<size_t>(500, n));
  return m;
}

void MetricsAccumulator::Add(int fold, const UserMetrics& m, std::span<const ItemIdx> top) {
  PerFold& f = folds_[fold];
  f.users.push_back(m);
  for (size_t r = 0; r < std::min<size_t>(top.size(), 10); ++r) f.top10.insert(Raw(top[r]));
}

void MetricsAccumulator::SetCatalogSize(int fold, size_t items) { folds_[fold].catalog = items; }

MetricsSummary MetricsAccumulator::Fold(int fold) const {
  auto it = folds_.find(fold);
  if (it == folds_.end()) return {};
  const PerFold& f = it->second;
  std::vector<const UserMetrics*> users;
  users.reserve(f.users.size());
  for (const UserMetrics& m : f.users) users.push_back(&m);
  MetricsSummary s = SummarizeAll(users);
  if (f.catalog > 0) s.coverage10 = static_cast<double>(f.top10.size()) / static_cast<double>(f.catalog);
  return s;
}

MetricsSummary MetricsAccumulator::Overall() const {
  std::vector<const UserMetrics*> users;
  double coverage_sum = 0;
  int folds_with_users = 0;
  for (const auto& [fold, f] : folds_) {
    for (const UserMetrics& m : f.users) users.push_back(&m);
    if (f.users.empty()) continue;
    ++folds_with_users;
    if (f.catalog > 0) coverage_sum += static_cast<double>(f.top10.size()) / static_cast<double>(f.catalog);
  }
  MetricsSummary s = SummarizeAll(users);
  if (folds_with_users > 0) s.coverage10 = coverage_sum / folds_with_users;
  return s;
}

std::optional<MetricValue> MetricsAccumulator::PairedDifference(const MetricsAccumulator& other,
                                                                double UserMetrics::*metric) const {
  if (folds_.size() != other.folds_.size()) return std::nullopt;
  std::vector<UserMetrics> diffs;  // the differences, in the slot `metric` names
  for (auto a = folds_.begin(), b = other.folds_.begin(); a != folds_.end(); ++a, ++b) {
    if (a->first != b->first || a->second.users.size() != b->second.users.size()) return std::nullopt;
    for (size_t u = 0; u < a->second.users.size(); ++u) {
      UserMetrics d;
      d.*metric = a->second.users[u].*metric - b->second.users[u].*metric;
      diffs.push_back(d);
    }
  }
  std::vector<const UserMetrics*> users;
  users.reserve(diffs.size());
  for (const UserMetrics& d : diffs) users.push_back(&d);
  return Summarize(users, [metric](const UserMetrics& m) { return m.*metric; });
}

std::vector<int> MetricsAccumulator::folds() const {
  std::vector<int> out;
  out.reserve(folds_.size());
  for (const auto& [fold, f] : folds_) out.push_back(fold);
  return out;
}

}  // namespace funnel::eval
