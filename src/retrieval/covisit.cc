#include "funnel/retrieval/covisit.h"

#include <algorithm>
#include <cmath>

#include "funnel/core/blob_file.h"

namespace funnel::retrieval {

namespace {

// 2^100: past it a pair's age factor stops growing, so float weights stay finite however long
// a trained source keeps folding in new events (about 16 years at a 60-day half-life).
constexpr double kMaxAgeExponent = 100;

// A function object (not a function) so that the sorts inline it.
constexpr auto Better = [](const Candidate& x, const Candidate& y) {
  return x.score != y.score ? x.score > y.score : x.item < y.item;
};

}  // namespace

CovisitCounts::CovisitCounts(const CovisitOptions& options, int64_t reference_us)
    : options_(options), reference_us_(reference_us) {}

const absl::flat_hash_map<uint32_t, float>* CovisitCounts::Pairs(uint32_t item) const {
  return item < pairs_.size() && !pairs_[item].empty() ? &pairs_[item] : nullptr;
}

void CovisitCounts::Remember(std::vector<Engagement>& recent, uint32_t item, int64_t ts_us) const {
  recent.push_back({item, ts_us});
  if (recent.size() > static_cast<size_t>(std::max(options_.max_gap, 0))) recent.erase(recent.begin());
}

void CovisitCounts::Grow(uint32_t item) {
  if (item < item_counts_.size()) return;
  item_counts_.resize(size_t{item} + 1, 0.0);
  pairs_.resize(size_t{item} + 1);
}

void CovisitCounts::Seed(uint32_t user, uint32_t item, int64_t ts_us) {
  Grow(item);  // a seed pairs with later items: it needs its row
  Remember(users_[user], item, ts_us);
}

void CovisitCounts::Add(uint32_t user, uint32_t item, int64_t ts_us) {
  ++events_;
  Grow(item);
  item_counts_[item] += 1;
  std::vector<Engagement>& recent = users_[user];
  const double window_us = options_.window_hours * 3600e6, decay_us = options_.decay_hours * 3600e6;
  const double age = options_.pair_half_life_days > 0
                         ? std::exp2(std::min(kMaxAgeExponent, static_cast<double>(ts_us - reference_us_) /
                                                                   (options_.pair_half_life_days * 86400e6)))
                         : 1.0;
  for (size_t back = recent.size(); back-- > 0;) {  // newest first
    const Engagement& prev = recent[back];
    // Magnitude: a live fold sees events in arrival order, which may run slightly behind time.
    const double dt = std::fabs(static_cast<double>(ts_us - prev.ts_us));
    if (dt > window_us) break;
    if (prev.item == item) continue;
    const auto w = static_cast<float>((decay_us > 0 ? std::exp2(-dt / decay_us) : 1.0) * age);
    pairs_[prev.item][item] += w;
    pairs_[item][prev.item] += w;
  }
  Remember(recent, item, ts_us);
}

void CovisitCounts::Write(BlobWriter& w, const std::string& prefix) const {
  w.Add(prefix + "events", std::vector<uint64_t>{events_});
  w.Add(prefix + "item_counts", item_counts_);
  std::vector<uint64_t> offsets{0};
  std::vector<uint32_t> ids;
  std::vector<float> weights;
  std::vector<std::pair<uint32_t, float>> row;
  for (const auto& pairs : pairs_) {
    row.assign(pairs.begin(), pairs.end());
    std::sort(row.begin(), row.end());  // a deterministic file
    for (const auto& [b, c] : row) {
      ids.push_back(b);
      weights.push_back(c);
    }
    offsets.push_back(ids.size());
  }
  w.Add(prefix + "pair_offsets", offsets);
  w.Add(prefix + "pair_ids", ids);
  w.Add(prefix + "pair_weights", weights);
  std::vector<uint32_t> users;
  for (const auto& [u, recent] : users_) users.push_back(u);
  std::sort(users.begin(), users.end());
  std::vector<uint64_t> user_offsets{0};
  std::vector<uint32_t> items;
  std::vector<int64_t> times;
  for (uint32_t u : users) {
    for (const Engagement& e : users_.at(u)) {
      items.push_back(e.item);
      times.push_back(e.ts_us);
    }
    user_offsets.push_back(items.size());
  }
  w.Add(prefix + "users", users);
  w.Add(prefix + "user_offsets", user_offsets);
  w.Add(prefix + "user_items", items);
  w.Add(prefix + "user_times", times);
}

StatusOr<CovisitCounts> CovisitCounts::Read(const BlobReader& r, const std::string& prefix,
                                            const CovisitOptions& options, int64_t reference_us) {
  CovisitCounts c(options, reference_us);
  FUNNEL_ASSIGN_OR_RETURN(auto events, r.Get<uint64_t>(prefix + "events"));
  FUNNEL_ASSIGN_OR_RETURN(c.item_counts_, r.Get<double>(prefix + "item_counts"));
  FUNNEL_ASSIGN_OR_RETURN(auto offsets, r.Get<uint64_t>(prefix + "pair_offsets"));
  FUNNEL_ASSIGN_OR_RETURN(auto ids, r.Get<uint32_t>(prefix + "pair_ids"));
  FUNNEL_ASSIGN_OR_RETURN(auto weights, r.Get<float>(prefix + "pair_weights"));
  FUNNEL_ASSIGN_OR_RETURN(auto users, r.Get<uint32_t>(prefix + "users"));
  FUNNEL_ASSIGN_OR_RETURN(auto user_offsets, r.Get<uint64_t>(prefix + "user_offsets"));
  FUNNEL_ASSIGN_OR_RETURN(auto items, r.Get<uint32_t>(prefix + "user_items"));
  FUNNEL_ASSIGN_OR_RETURN(auto times, r.Get<int64_t>(prefix + "user_times"));
  const size_t n = c.item_counts_.size();
  auto monotone = [](const std::vector<uint64_t>& o, size_t end) {
    return !o.empty() && o.front() == 0 && o.back() == end && std::is_sorted(o.begin(), o.end());
  };
  if (events.size() != 1 || offsets.size() != n + 1 || !monotone(offsets, ids.size()) || weights.size() != ids.size() ||
      user_offsets.size() != users.size() + 1 || !monotone(user_offsets, items.size()) || times.size() != items.size() ||
      std::any_of(ids.begin(), ids.end(), [&](uint32_t b) { return b >= n; }) ||
      std::any_of(items.begin(), items.end(), [&](uint32_t i) { return i >= n; }))
    return absl::DataLossError(Cat(r.path(), ": inconsistent co-visitation counts under '", prefix, "'"));
  c.events_ = events[0];
  c.pairs_.resize(n);
  for (size_t a = 0; a < n; ++a)
    for (uint64_t k = offsets[a]; k < offsets[a + 1]; ++k) c.pairs_[a][ids[k]] = weights[k];
  for (size_t u = 0; u < users.size(); ++u) {
    std::vector<Engagement>& recent = c.users_[users[u]];
    for (uint64_t k = user_offsets[u]; k < user_offsets[u + 1]; ++k) recent.push_back({items[k], times[k]});
  }
  return c;
}

std::unique_ptr<CovisitSource> CovisitSource::Build(const TrainingSet& ts, const CovisitOptions& options) {
  // Ages are measured from the newest training positive (the cutoff may be "the end of time").
  int64_t reference_us = 0;
  for (const PositiveEvent& p : ts.positives) reference_us = std::max(reference_us, p.ts_us);
  CovisitCounts counts(options, reference_us);
  for (const PositiveEvent& p : ts.positives) counts.Add(p.user, p.item, p.ts_us);

  const uint32_t items = std::max(ts.num_items, counts.num_items());
  std::vector<float> item_counts(items);
  for (uint32_t a = 0; a < items; ++a) item_counts[a] = static_cast<float>(counts.ItemCount(a));
  std::vector<uint64_t> offsets(size_t{items} + 1, 0);
  std::vector<uint32_t> ids;
  std::vector<float> pair_counts;
  struct Kept {
    Candidate scored;  // (b, s(a, b)): what chooses the kept neighbours
    float count;       // c(a, b): what is stored
  };
  std::vector<Kept> row;
  auto better = [](const Kept& x, const Kept& y) { return Better(x.scored, y.scored); };
  for (uint32_t a = 0; a < items; ++a) {
    row.clear();
    if (const auto* pairs = counts.Pairs(a)) {
      const double seed = std::sqrt(counts.ItemCount(a));
      for (const auto& [b, c] : *pairs)
        row.push_back(
            {{b, static_cast<float>(c / (seed * std::pow(counts.ItemCount(b), options.popularity_exponent)))}, c});
    }
    const size_t keep = std::min(row.size(), static_cast<size_t>(std::max(options.neighbors, 0)));
    std::partial_sort(row.begin(), row.begin() + keep, row.end(), better);
    row.resize(keep);
    std::sort(row.begin(), row.end(), [](const Kept& x, const Kept& y) { return x.scored.item < y.scored.item; });
    for (const Kept& k : row) {
      ids.push_back(k.scored.item);
      pair_counts.push_back(k.count);
    }
    offsets[a + 1] = ids.size();
  }
  return FromLists(std::move(offsets), std::move(ids), std::move(pair_counts), std::move(item_counts), options,
                   reference_us);
}

CovisitSource::CovisitSource(std::vector<uint64_t> offsets, std::vector<uint32_t> neighbors, std::vector<float> counts,
                             std::vector<float> item_counts, const CovisitOptions& options, int64_t reference_us)
    : offsets_(std::move(offsets)),
      neighbors_(std::move(neighbors)),
      counts_(std::move(counts)),
      item_counts_(std::move(item_counts)),
      options_(options),
      reference_us_(reference_us) {
  seed_norm_.resize(item_counts_.size());
  candidate_norm_.resize(item_counts_.size());
  for (size_t a = 0; a < item_counts_.size(); ++a) {
    const double n = item_counts_[a];
    seed_norm_[a] = n > 0 ? static_cast<float>(1 / std::sqrt(n)) : 0.0f;
    candidate_norm_[a] = n > 0 ? static_cast<float>(std::pow(n, -options_.popularity_exponent)) : 0.0f;
  }
}

std::unique_ptr<CovisitSource> CovisitSource::FromLists(std::vector<uint64_t> offsets, std::vector<uint32_t> neighbors,
                                                        std::vector<float> counts, std::vector<float> item_counts,
                                                        const CovisitOptions& options, int64_t reference_us) {
  const bool legacy = item_counts.empty();
  if (legacy) item_counts.assign(offsets.empty() ? 0 : offsets.size() - 1, 1.0f);
  auto source = std::unique_ptr<CovisitSource>(new CovisitSource(
      std::move(offsets), std::move(neighbors), std::move(counts), std::move(item_counts), options, reference_us));
  source->legacy_ = legacy;
  return source;
}

std::unique_ptr<CovisitSource> CovisitSource::WithUpdates(const CovisitCounts& later) const {
  if (legacy_) return std::unique_ptr<CovisitSource>(new CovisitSource(*this));
  FUNNEL_CHECK(later.reference_us() == reference_us_);
  const uint32_t items = std::max(num_items(), later.num_items());
  std::vector<uint64_t> offsets(size_t{items} + 1, 0);
  std::vector<uint32_t> ids;
  std::vector<float> counts;
  ids.reserve(neighbors_.size());
  counts.reserve(counts_.size());
  std::vector<float> item_counts(items);
  std::vector<std::pair<uint32_t, float>> row;
  for (uint32_t a = 0; a < items; ++a) {
    item_counts[a] = static_cast<float>((a < item_counts_.size() ? item_counts_[a] : 0.0) + later.ItemCount(a));
    auto base_ids = Neighbors(a);
    auto base_counts = NeighborCounts(a);
    row.clear();
    for (size_t j = 0; j < base_ids.size(); ++j) row.emplace_back(base_ids[j], base_counts[j]);
    if (const auto* pairs = later.Pairs(a)) {
      for (const auto& [b, c] : *pairs) {
        auto it = std::lower_bound(base_ids.begin(), base_ids.end(), b);
        if (it != base_ids.end() && *it == b)
          row[it - base_ids.begin()].second += c;
        else
          row.emplace_back(b, c);
      }
      std::sort(row.begin(), row.end());
    }
    for (const auto& [b, c] : row) {
      ids.push_back(b);
      counts.push_back(c);
    }
    offsets[a + 1] = ids.size();
  }
  return std::unique_ptr<CovisitSource>(new CovisitSource(std::move(offsets), std::move(ids), std::move(counts),
                                                          std::move(item_counts), options_, reference_us_));
}

std::span<const uint32_t> CovisitSource::Neighbors(uint32_t item) const {
  if (item + 1 >= offsets_.size()) return {};
  return {neighbors_.data() + offsets_[item], neighbors_.data() + offsets_[item + 1]};
}

std::span<const float> CovisitSource::NeighborCounts(uint32_t item) const {
  if (item + 1 >= offsets_.size()) return {};
  return {counts_.data() + offsets_[item], counts_.data() + offsets_[item + 1]};
}

float CovisitSource::PairScore(uint32_t a, uint32_t b) const {
  auto ids = Neighbors(a);
  auto it = std::lower_bound(ids.begin(), ids.end(), b);
  if (it == ids.end() || *it != b) return 0;
  return static_cast<float>(double{NeighborCounts(a)[it - ids.begin()]} * SeedNorm(a) * CandidateNorm(b));
}

// Retrieve and Score add the same terms, w_r·c(seed_r, b)·n_seed^-½, in the same seed order in
// double, then scale by n_b^-β once: a candidate's score is bit-identical from either.
//
// The sums go into a dense per-thread array indexed by item, with the list of items touched:
// a request adds ~20 seeds x ~100 neighbours, and a hash map's probes and growth were most of
// the source's time. Every touched slot is zeroed again before the call returns.
struct CovisitSource::DenseSums {
  std::vector<double> sum;
  std::vector<uint8_t> seen;
  std::vector<uint32_t> touched;

  void Fit(size_t items) {
    if (sum.size() < items) {
      sum.resize(items, 0.0);
      seen.resize(items, 0);
    }
  }
  void Add(uint32_t item, double x) {
    if (!seen[item]) {
      seen[item] = 1;
      touched.push_back(item);
    }
    sum[item] += x;
  }
  void Clear() {
    for (uint32_t item : touched) {
      sum[item] = 0;
      seen[item] = 0;
    }
    touched.clear();
  }
};

namespace {

thread_local CovisitSource::DenseSums dense_sums;

// Clears the sums even if the caller's vector throws while they are read.
struct ClearOnExit {
  CovisitSource::DenseSums& d;
  ~ClearOnExit() { d.Clear(); }
};

}  // namespace

void CovisitSource::AddSeedSums(const UserState& user, DenseSums& d) const {
  d.Fit(num_items());
  double w = 1;
  const size_t seeds = std::min(user.recent.size(), static_cast<size_t>(options_.recent_items));
  for (size_t r = 0; r < seeds; ++r, w *= options_.recency) {
    const uint32_t a = user.recent[r];
    const double seed = w * SeedNorm(a);
    auto ids = Neighbors(a);
    auto cs = NeighborCounts(a);
    for (size_t j = 0; j < ids.size(); ++j) d.Add(ids[j], seed * cs[j]);
  }
}

void CovisitSource::Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const {
  DenseSums& d = dense_sums;
  ClearOnExit clear{d};
  AddSeedSums(user, d);
  out->clear();
  for (uint32_t item : d.touched)
    if (!user.Excluded(item)) out->push_back({item, static_cast<float>(d.sum[item] * CandidateNorm(item))});
  if (out->size() > params.k) {
    std::partial_sort(out->begin(), out->begin() + params.k, out->end(), Better);
    out->resize(params.k);
  } else {
    std::sort(out->begin(), out->end(), Better);
  }
}

void CovisitSource::Score(const UserState& user, std::span<const uint32_t> items, Timestamp, std::span<float> out) const {
  DenseSums& d = dense_sums;
  ClearOnExit clear{d};
  AddSeedSums(user, d);
  for (size_t j = 0; j < items.size(); ++j)
    out[j] = items[j] < num_items() ? static_cast<float>(d.sum[items[j]] * CandidateNorm(items[j])) : 0.0f;
}

Status CovisitSource::Save(const std::string& dir) const {
  BlobWriter w("covisit");
  w.Add("offsets", offsets_);
  w.Add("neighbors", neighbors_);
  w.Add("counts", counts_);
  w.Add("item_counts", item_counts_);
  w.Add("reference_us", std::vector<int64_t>{reference_us_});
  w.Add("options", std::vector<double>{options_.window_hours, options_.decay_hours, double(options_.max_gap),
                                       double(options_.neighbors), options_.recency, double(options_.recent_items),
                                       options_.pair_half_life_days, options_.popularity_exponent});
  return w.Write(dir + "/covisit.blob");
}

StatusOr<std::unique_ptr<CovisitSource>> CovisitSource::Load(std::string_view, const std::string& dir) {
  const std::string path = dir + "/covisit.blob";
  FUNNEL_ASSIGN_OR_RETURN(BlobReader r, BlobReader::Open(path, "covisit"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<uint64_t> offsets, r.Get<uint64_t>("offsets"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, r.Get<uint32_t>("neighbors"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<double> o, r.Get<double>("options"));
  // Bundles written before item counts were kept hold normalized scores under "scores" and
  // six options; they load as c = s with every n = 1, which scores exactly as they did.
  const bool legacy = !r.Has("item_counts");
  FUNNEL_ASSIGN_OR_RETURN(std::vector<float> counts, r.Get<float>(legacy ? "scores" : "counts"));
  std::vector<float> item_counts;
  int64_t reference_us = 0;
  if (!legacy) {
    FUNNEL_ASSIGN_OR_RETURN(item_counts, r.Get<float>("item_counts"));
    FUNNEL_ASSIGN_OR_RETURN(std::vector<int64_t> ref, r.Get<int64_t>("reference_us"));
    if (ref.size() != 1) return absl::DataLossError(Cat(path, ": reference_us must hold one value"));
    reference_us = ref[0];
  }
  if (o.size() != (legacy ? 6u : 8u) || ids.size() != counts.size() || offsets.empty() || offsets.back() != ids.size() ||
      !std::is_sorted(offsets.begin(), offsets.end()) || (!legacy && item_counts.size() != offsets.size() - 1))
    return absl::DataLossError(Cat(path, ": inconsistent neighbour lists"));
  const auto items = static_cast<uint32_t>(offsets.size() - 1);
  for (uint32_t id : ids)
    if (id >= items) return absl::DataLossError(Cat(path, ": neighbour index out of range"));
  CovisitOptions opt{o[0], o[1], int(o[2]), int(o[3]), o[4], int(o[5]), 0, 0.5};
  if (!legacy) {
    opt.pair_half_life_days = o[6];
    opt.popularity_exponent = o[7];
  }
  return FromLists(std::move(offsets), std::move(ids), std::move(counts), std::move(item_counts), opt, reference_us);
}

}  // namespace funnel::retrieval
