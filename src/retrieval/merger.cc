#include "funnel/retrieval/merger.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>

#include "absl/container/flat_hash_map.h"

namespace funnel::retrieval {

Merger::Merger(std::vector<SourceSlot> slots, size_t max_candidates, FusionOptions fusion)
    : slots_(std::move(slots)), max_candidates_(max_candidates), fusion_(fusion) {
  FUNNEL_CHECK(slots_.size() <= 32);  // found_by is a 32-bit mask
}

std::vector<std::string> Merger::SourceNames() const {
  std::vector<std::string> names;
  for (const SourceSlot& s : slots_) names.emplace_back(s.source->name());
  return names;
}

CandidateSet Merger::Candidates(const UserState& user, Timestamp now) const {
  CandidateSet c;
  c.sources = slots_.size();
  absl::flat_hash_map<uint32_t, uint32_t> position;
  std::vector<Candidate> found;
  for (size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].quota == 0) continue;
    slots_[s].source->Retrieve(user, {.k = slots_[s].quota, .now = now}, &found);
    for (const Candidate& f : found) {
      auto [it, added] = position.try_emplace(f.item, static_cast<uint32_t>(c.items.size()));
      if (added) {
        if (c.items.size() >= max_candidates_) {
          position.erase(it);
          continue;
        }
        c.items.push_back(f.item);
        c.found_by.push_back(0);
      }
      c.found_by[it->second] |= 1u << s;
    }
  }
  c.scores.assign(c.items.size() * c.sources, 0.0f);
  std::vector<float> column(c.items.size());
  for (size_t s = 0; s < slots_.size(); ++s) {
    slots_[s].source->Score(user, c.items, now, column);
    for (size_t j = 0; j < c.items.size(); ++j) c.scores[j * c.sources + s] = column[j];
  }
  return c;
}

namespace {

// An integer that orders like the float: its bits with the sign flipped for positives and every
// bit flipped for negatives.
uint32_t OrderedBits(float x) {
  const auto bits = std::bit_cast<uint32_t>(x);
  return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}

// Positions 0..n-1 ordered by key, ties by position: a least-significant-digit radix sort (8-bit
// digits), stable, so positions stay in order among equal keys. A comparison sort of a few
// hundred random keys is mostly branch mispredictions (it was most of a request's fusion);
// this is at most four counting passes, and a digit every key shares costs one.
void OrderByKey(const std::vector<uint32_t>& keys, std::vector<uint32_t>* order, std::vector<uint32_t>* scratch) {
  const size_t n = keys.size();
  order->resize(n);
  scratch->resize(n);
  for (uint32_t j = 0; j < n; ++j) (*order)[j] = j;
  for (int shift = 0; shift < 32; shift += 8) {
    std::array<uint32_t, 257> count{};
    for (uint32_t j : *order) ++count[((keys[j] >> shift) & 0xffu) + 1];
    if (std::find(count.begin() + 1, count.end(), n) != count.end()) continue;  // one digit: nothing moves
    for (size_t d = 0; d < 256; ++d) count[d + 1] += count[d];
    for (uint32_t j : *order) (*scratch)[count[(keys[j] >> shift) & 0xffu]++] = j;
    order->swap(*scratch);
  }
}

// Reciprocal ranks of column s into `out`. Equal scores share the best rank among them, so a
// source that knows nothing ranks all alike: `rank` is where the current run of equal keys starts.
void RankColumn(const CandidateSet& c, size_t s, double k0, std::vector<float>* out) {
  const size_t n = c.items.size();
  std::vector<uint32_t> keys(n), order, scratch;
  for (size_t j = 0; j < n; ++j) {
    float x = c.Score(j, s);
    x = std::isnan(x) ? -std::numeric_limits<float>::infinity() : x + 0.0f;  // NaN last, -0 as +0
    keys[j] = ~OrderedBits(x);  // ascending key: descending score
  }
  OrderByKey(keys, &order, &scratch);
  out->resize(n);
  size_t rank = 0;
  for (size_t r = 0; r < n; ++r) {
    if (r > 0 && keys[order[r - 1]] != keys[order[r]]) rank = r;
    (*out)[order[r]] = static_cast<float>(1.0 / (k0 + static_cast<double>(rank)));
  }
}

// Mean 0, standard deviation 1 (a constant column: 0).
// A source's "knows nothing" score may be -inf (fresh for an item of unknown age): raw scores
// put it at the column's finite minimum, +inf at its maximum and NaN at its minimum, so one such
// value cannot turn every standardized score into NaN. Ranks are always finite and skip this.
void ClampNonFinite(std::vector<float>* x) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  bool non_finite = false;
  for (float v : *x) {
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    } else {
      non_finite = true;
    }
  }
  if (!non_finite) return;
  if (lo > hi) lo = hi = 0;  // nothing finite: a constant column
  for (float& v : *x)
    if (!std::isfinite(v)) v = v > 0 ? hi : lo;
}

void Standardize(std::vector<float>* x) {
  const size_t n = x->size();
  if (n == 0) return;
  double sum = 0, sq = 0;
  for (float v : *x) sum += v;
  const double mean = sum / static_cast<double>(n);
  for (float v : *x) sq += (v - mean) * (v - mean);
  const double sd = std::sqrt(sq / static_cast<double>(n));
  for (float& v : *x) v = sd > 1e-12 ? static_cast<float>((v - mean) / sd) : 0.0f;
}

std::vector<float> ColumnOf(const CandidateSet& c, size_t s) {
  std::vector<float> out(c.items.size());
  for (size_t j = 0; j < out.size(); ++j) out[j] = c.Score(j, s);
  return out;
}

void StoreColumn(const std::vector<float>& column, size_t s, CandidateSet* c) {
  for (size_t j = 0; j < column.size(); ++j) c->scores[j * c->sources + s] = column[j];
}

// Column s of c as NormalizeColumns leaves it, into `out`.
void NormalizeColumn(const CandidateSet& c, size_t s, const FusionOptions& options, std::vector<float>* out) {
  if (options.normalization == FusionOptions::kRank) {
    RankColumn(c, s, options.rank_offset, out);
  } else {
    *out = ColumnOf(c, s);
    ClampNonFinite(out);
  }
  Standardize(out);
}

}  // namespace

void StandardizeColumns(CandidateSet* c) {
  for (size_t s = 0; s < c->sources; ++s) {
    std::vector<float> column = ColumnOf(*c, s);
    ClampNonFinite(&column);
    Standardize(&column);
    StoreColumn(column, s, c);
  }
}

void RankColumns(CandidateSet* c, double k0) {
  std::vector<float> column;
  for (size_t s = 0; s < c->sources; ++s) {
    RankColumn(*c, s, k0, &column);
    StoreColumn(column, s, c);
  }
}

void NormalizeColumns(CandidateSet* c, const FusionOptions& options) {
  std::vector<float> column;
  for (size_t s = 0; s < c->sources; ++s) {
    NormalizeColumn(*c, s, options, &column);
    StoreColumn(column, s, c);
  }
}

std::vector<Candidate> Merger::Fuse(const CandidateSet& c, size_t k, std::span<const double> weights) const {
  // Column by column into the fused sum, in source order; a source weighted 0 adds nothing and
  // is not normalized at all (tuned fusions often drop one or two).
  std::vector<double> fused(c.items.size(), 0.0);
  std::vector<float> column;
  for (size_t s = 0; s < c.sources; ++s) {
    const double w = weights.empty() ? slots_[s].weight : weights[s];
    if (w == 0) continue;
    NormalizeColumn(c, s, fusion_, &column);
    for (size_t j = 0; j < column.size(); ++j) fused[j] += w * column[j];
  }
  std::vector<Candidate> out(c.items.size());
  for (size_t j = 0; j < c.items.size(); ++j) out[j] = {c.items[j], static_cast<float>(fused[j])};
  auto better = [](const Candidate& x, const Candidate& y) { return x.score != y.score ? x.score > y.score : x.item < y.item; };
  k = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + k, out.end(), better);
  out.resize(k);
  return out;
}

}  // namespace funnel::retrieval
