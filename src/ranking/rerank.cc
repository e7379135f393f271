#include "funnel/ranking/rerank.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <limits>

#include <simdjson.h>

#include "absl/container/flat_hash_map.h"
#include "funnel/core/hash.h"

namespace funnel::ranking {

namespace {

// A nonzero 32-bit code for a non-empty string (0 is "none").
uint32_t Code(std::string_view s) {
  if (s.empty()) return 0;
  const auto h = static_cast<uint32_t>(StableHash64(s, 0x7e7a));
  return h == 0 ? 1 : h;
}

double Similarity(const ItemFacts& f, uint32_t a, uint32_t b) {
  const uint32_t ca = f.category(a), cb = f.category(b), ra = f.creator(a), rb = f.creator(b);
  return (ca != 0 && ca == cb) || (ra != 0 && ra == rb) ? 1.0 : 0.0;
}

// A step that moves an item up lowers its score to its new predecessor's, so a list stays
// ordered by its scores (not increasing) for whoever reads them; untouched runs keep theirs.
void KeepOrderedByScore(std::vector<retrieval::Candidate>* list) {
  for (size_t i = 1; i < list->size(); ++i) (*list)[i].score = std::min((*list)[i].score, (*list)[i - 1].score);
}

class FilterStep final : public RerankStep {
 public:
  std::string_view name() const override { return "filter"; }
  void Apply(const ItemFacts& facts, const RerankContext&, std::vector<retrieval::Candidate>* list) const override {
    std::erase_if(*list, [&](const retrieval::Candidate& c) { return facts.unavailable(c.item); });
  }
};

class MmrStep final : public RerankStep {
 public:
  explicit MmrStep(double lambda) : lambda_(lambda) {}
  std::string_view name() const override { return "mmr"; }
  void Apply(const ItemFacts& facts, const RerankContext& request, std::vector<retrieval::Candidate>* list) const override {
    const size_t n = list->size(), k = request.k;
    if (n < 2) return;
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (const auto& c : *list) {
      lo = std::min(lo, c.score);
      hi = std::max(hi, c.score);
    }
    const double span = hi > lo ? hi - lo : 1.0;
    std::vector<double> relevance(n), max_sim(n, 0.0);
    for (size_t i = 0; i < n; ++i) relevance[i] = ((*list)[i].score - lo) / span;
    std::vector<uint8_t> taken(n, 0);
    std::vector<retrieval::Candidate> out;
    out.reserve(n);
    const size_t picks = std::min(k, n);
    for (size_t p = 0; p < picks; ++p) {
      size_t best = n;
      double best_value = -std::numeric_limits<double>::infinity();
      for (size_t i = 0; i < n; ++i) {
        if (taken[i]) continue;
        const double v = lambda_ * relevance[i] - (1 - lambda_) * max_sim[i];
        if (v > best_value) {  // strict: ties keep the incoming order
          best_value = v;
          best = i;
        }
      }
      taken[best] = 1;
      out.push_back((*list)[best]);
      for (size_t i = 0; i < n; ++i)
        if (!taken[i]) max_sim[i] = std::max(max_sim[i], Similarity(facts, (*list)[i].item, (*list)[best].item));
    }
    for (size_t i = 0; i < n; ++i)
      if (!taken[i]) out.push_back((*list)[i]);
    KeepOrderedByScore(&out);
    *list = std::move(out);
  }

 private:
  double lambda_;
};

class CapsStep final : public RerankStep {
 public:
  explicit CapsStep(const RerankOptions& o) : window_(o.cap_window), creator_(o.max_per_creator), category_(o.max_per_category) {}
  std::string_view name() const override { return "caps"; }
  void Apply(const ItemFacts& facts, const RerankContext&, std::vector<retrieval::Candidate>* list) const override {
    if (creator_ == 0 && category_ == 0) return;
    absl::flat_hash_map<uint32_t, size_t> by_creator, by_category;
    std::vector<retrieval::Candidate> kept, overflow;
    for (const retrieval::Candidate& c : *list) {
      if (kept.size() >= window_) {
        overflow.push_back(c);
        continue;
      }
      const uint32_t cr = facts.creator(c.item), ca = facts.category(c.item);
      const bool over = (creator_ > 0 && cr != 0 && by_creator[cr] >= creator_) ||
                        (category_ > 0 && ca != 0 && by_category[ca] >= category_);
      if (over) {
        overflow.push_back(c);
        continue;
      }
      if (cr != 0) ++by_creator[cr];
      if (ca != 0) ++by_category[ca];
      kept.push_back(c);
    }
    kept.insert(kept.end(), overflow.begin(), overflow.end());
    KeepOrderedByScore(&kept);
    *list = std::move(kept);
  }

 private:
  size_t window_, creator_, category_;
};

// A draw from Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
double BetaDraw(std::mt19937_64& rng, double a, double b) {
  std::gamma_distribution<double> ga(a, 1.0), gb(b, 1.0);
  const double x = ga(rng), y = gb(rng);
  return x + y > 0 ? x / (x + y) : 0.5;
}

class ExploreStep final : public RerankStep {
 public:
  explicit ExploreStep(const RerankOptions& o) : share_(o.explore_share), max_impressions_(o.explore_max_impressions) {}
  std::string_view name() const override { return "explore"; }
  void Apply(const ItemFacts& facts, const RerankContext& request, std::vector<retrieval::Candidate>* list) const override {
    const size_t k = std::min(request.k, list->size());
    const auto slots = static_cast<size_t>(std::floor(share_ * static_cast<double>(k)));
    if (slots == 0 || list->size() <= k) return;
    // Candidates below the top k with few impressions, each with a sampled like rate.
    std::mt19937_64 rng(request.seed);
    std::vector<std::pair<double, size_t>> drawn;
    for (size_t i = k; i < list->size(); ++i) {
      const uint32_t item = (*list)[i].item, shown = facts.impressions(item);
      if (shown >= max_impressions_) continue;
      const uint32_t liked = std::min(facts.likes(item), shown);
      drawn.push_back({BetaDraw(rng, 1.0 + liked, 1.0 + (shown - liked)), i});
    }
    if (drawn.empty()) return;
    const size_t take = std::min(slots, drawn.size());
    std::partial_sort(drawn.begin(), drawn.begin() + take, drawn.end(),
                      [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    // Evenly spaced slots from the bottom of the top k up: k-1, k-1-step, ...
    std::vector<retrieval::Candidate> picked;
    std::vector<uint8_t> used(list->size(), 0);
    for (size_t j = 0; j < take; ++j) {
      picked.push_back((*list)[drawn[j].second]);
      used[drawn[j].second] = 1;
    }
    std::vector<retrieval::Candidate> rest;
    for (size_t i = 0; i < list->size(); ++i)
      if (!used[i]) rest.push_back((*list)[i]);
    const size_t step = k / take;
    std::vector<retrieval::Candidate> out;
    out.reserve(list->size());
    size_t next_pick = 0, next_rest = 0;
    for (size_t pos = 0; pos < k; ++pos) {
      const bool explore_slot = next_pick < take && pos == k - 1 - (take - 1 - next_pick) * step;
      out.push_back(explore_slot ? picked[next_pick++] : rest[next_rest++]);
    }
    while (next_rest < rest.size()) out.push_back(rest[next_rest++]);
    KeepOrderedByScore(&out);
    *list = std::move(out);
  }

 private:
  double share_;
  uint32_t max_impressions_;
};

}  // namespace

uint64_t RequestSeed(uint64_t seed, std::string_view user, Timestamp at) {
  return StableHash64(user, seed ^ static_cast<uint64_t>(at.micros()) * 0x9E3779B97F4A7C15ull);
}

void ItemFacts::SetCounts(uint32_t item, uint32_t impressions, uint32_t likes) {
  if (item >= impressions_.size()) return;
  impressions_[item] = impressions;
  likes_[item] = likes;
}

void ItemFacts::Set(uint32_t item, std::string_view first_category, std::string_view creator, bool unavailable) {
  if (item >= category_.size()) return;
  category_[item] = Code(first_category);
  creator_[item] = Code(creator);
  unavailable_[item] = unavailable ? 1 : 0;
}

StatusOr<ItemFacts> ItemFacts::FromStore(const store::EventStore& store, uint32_t num_items,
                                         std::optional<Timestamp> counts_until) {
  ItemFacts facts(num_items);
  simdjson::dom::parser parser;
  FUNNEL_RETURN_IF_ERROR(store.ForEachItem([&](ItemIdx idx, const events::Item& item) {
    bool unavailable = false;
    if (!item.attributes.empty()) {
      simdjson::dom::element root;
      bool available = true;
      if (!parser.parse(item.attributes).get(root) && !root["available"].get(available)) unavailable = !available;
    }
    facts.Set(Raw(idx), item.categories.empty() ? std::string_view() : item.categories.front(), item.creator, unavailable);
    return true;
  }));
  if (counts_until) {
    const std::optional<TypeIdx> impression = store.FindType("impression"), like = store.FindType("like");
    FUNNEL_RETURN_IF_ERROR(store.Replay(Timestamp::Min(), *counts_until, [&](const store::StoredEvent& e) {
      const uint32_t i = Raw(e.item);
      if (i >= num_items) return true;
      if (impression && e.type == *impression) ++facts.impressions_[i];
      if (like && e.type == *like) ++facts.likes_[i];
      return true;
    }));
  }
  return facts;
}

Registry<RerankStepFactory> BuiltinRerankSteps() {
  Registry<RerankStepFactory> steps("re-rank step");
  const Status added[] = {
      steps.Add("filter", [](const RerankOptions&) { return std::make_unique<FilterStep>(); }),
      steps.Add("mmr", [](const RerankOptions& o) { return std::make_unique<MmrStep>(o.mmr_lambda); }),
      steps.Add("caps", [](const RerankOptions& o) { return std::make_unique<CapsStep>(o); }),
      steps.Add("explore", [](const RerankOptions& o) { return std::make_unique<ExploreStep>(o); }),
  };
  for (const Status& s : added) FUNNEL_CHECK(s.ok());  // fixed names: a clash is a bug here
  return steps;
}

StatusOr<Reranker> Reranker::Create(const RerankOptions& options) {
  const Registry<RerankStepFactory> known = BuiltinRerankSteps();
  Reranker r;
  r.options_ = options;
  for (const std::string& name : options.steps) {
    FUNNEL_ASSIGN_OR_RETURN(const RerankStepFactory* make, known.Find(name));
    r.steps_.push_back((*make)(options));
  }
  return r;
}

bool Reranker::Has(std::string_view step) const {
  return std::any_of(steps_.begin(), steps_.end(), [&](const auto& s) { return s->name() == step; });
}

void Reranker::Apply(const ItemFacts& facts, const RerankContext& request, std::vector<retrieval::Candidate>* list) const {
  for (const auto& step : steps_) step->Apply(facts, request, list);
  if (list->size() > request.k) list->resize(request.k);
}

double IntraListDiversity(const ItemFacts& facts, std::span<const uint32_t> items) {
  if (items.size() < 2) return 0;
  double sum = 0;
  size_t pairs = 0;
  for (size_t i = 0; i < items.size(); ++i)
    for (size_t j = i + 1; j < items.size(); ++j, ++pairs) sum += 1.0 - Similarity(facts, items[i], items[j]);
  return sum / static_cast<double>(pairs);
}

}  // namespace funnel::ranking
