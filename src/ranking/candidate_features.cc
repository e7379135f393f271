#include "funnel/ranking/candidate_features.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

namespace funnel::ranking {

namespace {

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
constexpr size_t kPerSource = 3;  // score, rank, found
constexpr size_t kGlobal = 5;     // fused.score, fused.rank, sources.found, user.history, user.recent

// Standardized scores and log ranks of one source's column, over every candidate.
void SourceColumn(const retrieval::CandidateSet& c, size_t s, std::vector<float>* z, std::vector<float>* rank,
                  std::vector<uint32_t>* order) {
  const size_t n = c.items.size();
  z->assign(n, kMissing);
  rank->assign(n, kMissing);
  double sum = 0, sq = 0;
  size_t finite = 0;
  order->clear();
  for (size_t j = 0; j < n; ++j) {
    const float v = c.Score(j, s);
    if (!std::isfinite(v)) continue;
    sum += v;
    sq += static_cast<double>(v) * v;
    ++finite;
    order->push_back(static_cast<uint32_t>(j));
  }
  if (finite == 0) return;
  const double mean = sum / static_cast<double>(finite);
  const double var = std::max(0.0, sq / static_cast<double>(finite) - mean * mean);
  const double sd = std::sqrt(var);
  std::sort(order->begin(), order->end(), [&](uint32_t a, uint32_t b) {
    const float x = c.Score(a, s), y = c.Score(b, s);
    return x != y ? x > y : a < b;
  });
  // Ties share the best rank, as the fusion's reciprocal ranks do (merger.h).
  size_t r = 0;
  for (size_t i = 0; i < order->size(); ++i) {
    const uint32_t j = (*order)[i];
    if (i > 0 && c.Score(j, s) != c.Score((*order)[i - 1], s)) r = i;
    (*rank)[j] = static_cast<float>(std::log1p(static_cast<double>(r)));
    (*z)[j] = sd > 1e-12 ? static_cast<float>((c.Score(j, s) - mean) / sd) : 0.0f;
  }
}

}  // namespace

size_t CandidateFeatureCount(size_t sources, const CandidateFeatureSource* store) {
  return kPerSource * sources + kGlobal + (store != nullptr ? store->names().size() : 0);
}

std::vector<std::string> CandidateFeatureNames(std::span<const std::string> sources,
                                               std::span<const std::string> store) {
  std::vector<std::string> names;
  for (const std::string& s : sources) {
    names.push_back(s + ".score");
    names.push_back(s + ".rank");
    names.push_back(s + ".found");
  }
  for (const char* g : {"fused.score", "fused.rank", "sources.found", "user.history", "user.recent"}) names.push_back(g);
  for (const std::string& f : store) names.push_back("store." + f);
  return names;
}

void ComputeCandidateRows(const retrieval::CandidateSet& c, const retrieval::UserState& user,
                          const retrieval::Merger& merger, size_t depth, CandidateRows* out,
                          const CandidateFeatureSource* store) {
  const size_t n = c.items.size(), sources = c.sources;
  out->fused = merger.Fuse(c, n);
  const size_t own = CandidateFeatureCount(sources, nullptr);
  out->cols = CandidateFeatureCount(sources, store);
  // Candidate index of each fused entry: items are unique within a set, so a sort finds them.
  std::vector<uint32_t> by_item(n);
  std::iota(by_item.begin(), by_item.end(), 0u);
  std::sort(by_item.begin(), by_item.end(), [&](uint32_t a, uint32_t b) { return c.items[a] < c.items[b]; });
  auto index_of = [&](uint32_t item) {
    auto it = std::lower_bound(by_item.begin(), by_item.end(), item,
                               [&](uint32_t j, uint32_t v) { return c.items[j] < v; });
    return *it;
  };
  const size_t rows = std::min(depth, n);
  out->candidate.resize(rows);
  out->values.assign(rows * out->cols, kMissing);
  for (size_t r = 0; r < rows; ++r) out->candidate[r] = index_of(out->fused[r].item);

  std::vector<float> z, rank;
  std::vector<uint32_t> order;
  for (size_t s = 0; s < sources; ++s) {
    SourceColumn(c, s, &z, &rank, &order);
    for (size_t r = 0; r < rows; ++r) {
      const uint32_t j = out->candidate[r];
      float* row = &out->values[r * out->cols + kPerSource * s];
      row[0] = z[j];
      row[1] = rank[j];
      row[2] = static_cast<float>((c.found_by[j] >> s) & 1u);
    }
  }
  const float history = static_cast<float>(std::log1p(static_cast<double>(user.items.size())));
  const float recent = static_cast<float>(std::log1p(static_cast<double>(user.recent.size())));
  for (size_t r = 0; r < rows; ++r) {
    const uint32_t j = out->candidate[r];
    float* row = &out->values[r * out->cols + kPerSource * sources];
    row[0] = out->fused[r].score;
    row[1] = static_cast<float>(std::log1p(static_cast<double>(r)));
    row[2] = static_cast<float>(std::popcount(c.found_by[j]));
    row[3] = history;
    row[4] = recent;
    if (store != nullptr) store->Compute(c.items[j], std::span<float>(&out->values[r * out->cols + own], out->cols - own));
  }
}

}  // namespace funnel::ranking
