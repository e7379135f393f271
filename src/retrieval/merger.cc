#include "funnel/retrieval/merger.h"

#include <algorithm>
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

void StandardizeColumns(CandidateSet* c) {
  const size_t n = c->items.size();
  if (n == 0) return;
  for (size_t s = 0; s < c->sources; ++s) {
    double sum = 0, sq = 0;
    for (size_t j = 0; j < n; ++j) sum += c->scores[j * c->sources + s];
    const double mean = sum / static_cast<double>(n);
    for (size_t j = 0; j < n; ++j) {
      double d = c->scores[j * c->sources + s] - mean;
      sq += d * d;
    }
    const double sd = std::sqrt(sq / static_cast<double>(n));
    for (size_t j = 0; j < n; ++j) {
      float& x = c->scores[j * c->sources + s];
      x = sd > 1e-12 ? static_cast<float>((x - mean) / sd) : 0.0f;
    }
  }
}

namespace {

// An integer that orders like the float: its bits with the sign flipped for positives and every
// bit flipped for negatives.
uint32_t OrderedBits(float x) {
  const auto bits = std::bit_cast<uint32_t>(x);
  return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}

}  // namespace

void RankColumns(CandidateSet* c, double k0) {
  const size_t n = c->items.size();
  // One integer per candidate, higher score first and ties by position (the order of a stable
  // sort of positions): integer comparisons of contiguous keys instead of comparisons that read
  // the strided score matrix, several times faster on the few hundred candidates of a request.
  std::vector<uint64_t> order(n);
  for (size_t s = 0; s < c->sources; ++s) {
    for (uint32_t j = 0; j < n; ++j) {
      float x = c->Score(j, s);
      x = std::isnan(x) ? -std::numeric_limits<float>::infinity() : x + 0.0f;  // NaN last, -0 as +0
      order[j] = uint64_t{~OrderedBits(x)} << 32 | j;
    }
    std::sort(order.begin(), order.end());
    // Equal scores share the best rank among them, so a source that knows nothing ranks all
    // alike. `rank` is where the current run of equal scores starts (a walk back to it per item
    // was quadratic in the run, and a cold source's run is every candidate).
    size_t rank = 0;
    for (size_t r = 0; r < n; ++r) {
      if (r > 0 && order[r - 1] >> 32 != order[r] >> 32) rank = r;
      c->scores[(order[r] & 0xffffffffu) * c->sources + s] = static_cast<float>(1.0 / (k0 + static_cast<double>(rank)));
    }
  }
}

void NormalizeColumns(CandidateSet* c, const FusionOptions& options) {
  if (options.normalization == FusionOptions::kRank) RankColumns(c, options.rank_offset);
  StandardizeColumns(c);
}

std::vector<Candidate> Merger::Fuse(const CandidateSet& c, size_t k, std::span<const double> weights) const {
  CandidateSet z = c;
  NormalizeColumns(&z, fusion_);
  std::vector<Candidate> out(z.items.size());
  for (size_t j = 0; j < z.items.size(); ++j) {
    double f = 0;
    for (size_t s = 0; s < z.sources; ++s) f += (weights.empty() ? slots_[s].weight : weights[s]) * z.Score(j, s);
    out[j] = {z.items[j], static_cast<float>(f)};
  }
  auto better = [](const Candidate& x, const Candidate& y) { return x.score != y.score ? x.score > y.score : x.item < y.item; };
  k = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + k, out.end(), better);
  out.resize(k);
  return out;
}

}  // namespace funnel::retrieval
