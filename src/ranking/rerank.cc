#include "funnel/ranking/rerank.h"

#include <algorithm>
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
  void Apply(const ItemFacts& facts, size_t, std::vector<retrieval::Candidate>* list) const override {
    std::erase_if(*list, [&](const retrieval::Candidate& c) { return facts.unavailable(c.item); });
  }
};

class MmrStep final : public RerankStep {
 public:
  explicit MmrStep(double lambda) : lambda_(lambda) {}
  std::string_view name() const override { return "mmr"; }
  void Apply(const ItemFacts& facts, size_t k, std::vector<retrieval::Candidate>* list) const override {
    const size_t n = list->size();
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
  void Apply(const ItemFacts& facts, size_t, std::vector<retrieval::Candidate>* list) const override {
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

}  // namespace

void ItemFacts::Set(uint32_t item, std::string_view first_category, std::string_view creator, bool unavailable) {
  if (item >= category_.size()) return;
  category_[item] = Code(first_category);
  creator_[item] = Code(creator);
  unavailable_[item] = unavailable ? 1 : 0;
}

StatusOr<ItemFacts> ItemFacts::FromStore(const store::EventStore& store, uint32_t num_items) {
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
  return facts;
}

Registry<RerankStepFactory> BuiltinRerankSteps() {
  Registry<RerankStepFactory> steps("re-rank step");
  const Status added[] = {
      steps.Add("filter", [](const RerankOptions&) { return std::make_unique<FilterStep>(); }),
      steps.Add("mmr", [](const RerankOptions& o) { return std::make_unique<MmrStep>(o.mmr_lambda); }),
      steps.Add("caps", [](const RerankOptions& o) { return std::make_unique<CapsStep>(o); }),
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

void Reranker::Apply(const ItemFacts& facts, size_t k, std::vector<retrieval::Candidate>* list) const {
  for (const auto& step : steps_) step->Apply(facts, k, list);
  if (list->size() > k) list->resize(k);
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
