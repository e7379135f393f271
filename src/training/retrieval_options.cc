#include "funnel/training/retrieval_options.h"

#include <algorithm>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

namespace funnel::training {

namespace {

// Reads the keys of one table, remembering which were read so the rest can be refused.
class Keys {
 public:
  Keys(const toml::table* t, std::string prefix, const std::string& source)
      : t_(t), prefix_(std::move(prefix)), source_(source) {}

  Status Num(std::string_view key, double* out) {
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    if (!n->is_number()) return Wrong(*n, key, "a number");
    *out = *n->value<double>();
    return absl::OkStatus();
  }
  template <typename T>
  Status Int(std::string_view key, T* out) {
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    auto v = n->value<int64_t>();
    if (!n->is_integer() || !v || *v < 0) return Wrong(*n, key, "a non-negative integer");
    *out = static_cast<T>(*v);
    return absl::OkStatus();
  }
  Status Bool(std::string_view key, bool* out) {
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    if (!n->is_boolean()) return Wrong(*n, key, "true or false");
    *out = *n->value<bool>();
    return absl::OkStatus();
  }
  Status NumList(std::string_view key, std::vector<double>* out) {
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    const toml::array* a = n->as_array();
    if (a == nullptr || a->empty()) return Wrong(*n, key, "a non-empty array of numbers");
    out->clear();
    for (const auto& el : *a) {
      if (!el.is_number()) return Wrong(*n, key, "a non-empty array of numbers");
      out->push_back(*el.value<double>());
    }
    return absl::OkStatus();
  }
  Status Str(std::string_view key, std::string* out) {
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    auto v = n->value<std::string>();
    if (!v) return Wrong(*n, key, "a string");
    *out = *v;
    return absl::OkStatus();
  }
  // A non-empty array of names, each one of `known`; an unknown one is named (as a `what`) with the list.
  Status Names(std::string_view key, std::string_view what, const std::vector<std::string>& known,
               std::vector<std::string>* out) {
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    const toml::array* a = n->as_array();
    if (a == nullptr || a->empty()) return Wrong(*n, key, "a non-empty array of names");
    out->clear();
    for (const auto& el : *a) {
      if (!el.is_string()) return Wrong(*n, key, "a non-empty array of names");
      std::string name = *el.value<std::string>();
      if (std::find(known.begin(), known.end(), name) == known.end())
        return absl::InvalidArgumentError(Cat(source_, ":", uint32_t{el.source().begin.line}, ": key '", prefix_, key,
                                              "': unknown ", what, " '", name, "'; known: ",
                                              fmt::format("{}", fmt::join(known, ", "))));
      out->push_back(std::move(name));
    }
    return absl::OkStatus();
  }
  const toml::table* Table(std::string_view key) {
    seen_.insert(std::string(key));
    return t_ ? t_->get_as<toml::table>(key) : nullptr;
  }
  Status Done() const {
    if (t_ == nullptr) return absl::OkStatus();
    for (const auto& [k, v] : *t_)
      if (!seen_.contains(std::string(k.str())))
        return absl::InvalidArgumentError(Cat(source_, ":", uint32_t{v.source().begin.line}, ": unknown key '", prefix_,
                                              k.str(), "'; known here: ", fmt::format("{}", fmt::join(seen_, ", "))));
    return absl::OkStatus();
  }

 private:
  const toml::node* Find(std::string_view key) {
    seen_.insert(std::string(key));
    return t_ ? t_->get(key) : nullptr;
  }
  Status Wrong(const toml::node& n, std::string_view key, std::string_view want) const {
    std::ostringstream got;
    got << n.type();
    return absl::InvalidArgumentError(Cat(source_, ":", uint32_t{n.source().begin.line}, ": key '", prefix_, key,
                                          "': expected ", want, ", got ", got.str()));
  }
  const toml::table* t_;
  std::string prefix_;
  const std::string& source_;
  std::set<std::string> seen_;
};

}  // namespace

StatusOr<RetrievalTrainOptions> RetrievalTrainOptionsFromConfig(const Config& cfg) {
  RetrievalTrainOptions o;
  if (cfg.source_text.empty()) return o;
  toml::table root;
  try {  // parse errors were reported by LoadConfig already; this cannot fail on the same text
    root = toml::parse(cfg.source_text, cfg.source_name);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(Cat(cfg.source_name, ": ", e.description()));
  }
  const toml::table* r = root.get_as<toml::table>("retrieval");
  if (r == nullptr) return o;
  Keys k(r, "retrieval.", cfg.source_name);
  FUNNEL_RETURN_IF_ERROR(k.Names("sources", "retrieval source", KnownSources(), &o.sources));
  FUNNEL_RETURN_IF_ERROR(k.Bool("tune", &o.tune));
  FUNNEL_RETURN_IF_ERROR(k.Num("validation_fraction", &o.validation_fraction));
  FUNNEL_RETURN_IF_ERROR(k.Int("validation_windows", &o.validation_windows));
  FUNNEL_RETURN_IF_ERROR(k.Int("max_validation_users", &o.max_validation_users));
  FUNNEL_RETURN_IF_ERROR(k.Int("min_model_tuning_users", &o.min_model_tuning_users));
  FUNNEL_RETURN_IF_ERROR(k.Num("time_budget_seconds", &o.time_budget_seconds));
  FUNNEL_RETURN_IF_ERROR(k.Int("threads", &o.threads));
  FUNNEL_RETURN_IF_ERROR(k.Int("max_candidates", &o.max_candidates));
  FUNNEL_RETURN_IF_ERROR(k.Num("low_rating", &o.data.low_rating));
  FUNNEL_RETURN_IF_ERROR(k.Num("max_watch_ratio", &o.data.max_watch_ratio));
  FUNNEL_RETURN_IF_ERROR(k.Num("strength_half_life_days", &o.data.half_life_days));
  FUNNEL_RETURN_IF_ERROR(k.Int("recent_items", &o.data.recent_items));
  FUNNEL_RETURN_IF_ERROR(k.NumList("trending_half_life_fractions", &o.trending_half_life_fractions));
  FUNNEL_RETURN_IF_ERROR(k.NumList("ease_lambdas", &o.ease_lambdas));
  FUNNEL_RETURN_IF_ERROR(k.Int("ease_max_items", &o.ease.max_items));
  FUNNEL_RETURN_IF_ERROR(k.NumList("ials_alphas", &o.ials_alphas));
  FUNNEL_RETURN_IF_ERROR(k.NumList("ials_regularizations", &o.ials_regularizations));
  FUNNEL_RETURN_IF_ERROR(k.Int("ials_factors", &o.ials.factors));
  FUNNEL_RETURN_IF_ERROR(k.Int("ials_iterations", &o.ials.iterations));
  FUNNEL_RETURN_IF_ERROR(k.Str("fusion", &o.fusion));
  FUNNEL_RETURN_IF_ERROR(k.Str("fusion_normalization", &o.fusion_normalization));
  FUNNEL_RETURN_IF_ERROR(k.NumList("rank_offsets", &o.rank_offsets));
  FUNNEL_RETURN_IF_ERROR(k.Int("ann_m", &o.ann.m));
  FUNNEL_RETURN_IF_ERROR(k.Int("ann_ef_construction", &o.ann.ef_construction));
  FUNNEL_RETURN_IF_ERROR(k.Int("ann_ef_search", &o.ann.ef_search));
  FUNNEL_RETURN_IF_ERROR(k.Int("ann_exact_below", &o.ann.exact_below));
  FUNNEL_RETURN_IF_ERROR(k.Int("ann_norm_shards", &o.ann.norm_shards));
  if (const toml::table* q = k.Table("quotas")) {
    Keys qk(q, "retrieval.quotas.", cfg.source_name);
    for (auto& [name, quota] : o.quotas) FUNNEL_RETURN_IF_ERROR(qk.Int(name, &quota));
    FUNNEL_RETURN_IF_ERROR(qk.Done());
  }
  if (const toml::table* f = k.Table("fresh")) {
    Keys fk(f, "retrieval.fresh.", cfg.source_name);
    FUNNEL_RETURN_IF_ERROR(fk.Num("half_life_days", &o.fresh.half_life_days));
    FUNNEL_RETURN_IF_ERROR(fk.Num("max_age_days", &o.fresh.max_age_days));
    FUNNEL_RETURN_IF_ERROR(fk.Done());
  }
  if (const toml::table* c = k.Table("covisit")) {
    Keys ck(c, "retrieval.covisit.", cfg.source_name);
    FUNNEL_RETURN_IF_ERROR(ck.Num("window_hours", &o.covisit.window_hours));
    FUNNEL_RETURN_IF_ERROR(ck.Num("decay_hours", &o.covisit.decay_hours));
    FUNNEL_RETURN_IF_ERROR(ck.Int("max_gap", &o.covisit.max_gap));
    FUNNEL_RETURN_IF_ERROR(ck.Int("neighbors", &o.covisit.neighbors));
    FUNNEL_RETURN_IF_ERROR(ck.Num("recency", &o.covisit.recency));
    FUNNEL_RETURN_IF_ERROR(ck.Int("recent_items", &o.covisit.recent_items));
    FUNNEL_RETURN_IF_ERROR(ck.Num("pair_half_life_days", &o.covisit.pair_half_life_days));
    FUNNEL_RETURN_IF_ERROR(ck.Num("popularity_exponent", &o.covisit.popularity_exponent));
    FUNNEL_RETURN_IF_ERROR(ck.Done());
  }
  FUNNEL_RETURN_IF_ERROR(k.Done());
  if (o.fusion != "search" && o.fusion != "logistic")
    return absl::InvalidArgumentError(Cat(cfg.source_name, ": retrieval.fusion: unknown '", o.fusion, "'; known: search, logistic"));
  if (o.fusion_normalization != "rank" && o.fusion_normalization != "score")
    return absl::InvalidArgumentError(Cat(cfg.source_name, ": retrieval.fusion_normalization: unknown '",
                                          o.fusion_normalization, "'; known: rank, score"));
  if (o.ials.factors < 1 || o.ials.factors > 1024)
    return absl::InvalidArgumentError(Cat(cfg.source_name, ": retrieval.ials_factors must be in 1..1024"));
  if (!(o.covisit.pair_half_life_days >= 0) || !(o.covisit.popularity_exponent >= 0 && o.covisit.popularity_exponent <= 1))
    return absl::InvalidArgumentError(Cat(cfg.source_name, ": retrieval.covisit: pair_half_life_days must be >= 0 and "
                                          "popularity_exponent in [0, 1]"));
  if (!(o.validation_fraction > 0 && o.validation_fraction < 1))
    return absl::InvalidArgumentError(Cat(cfg.source_name, ": retrieval.validation_fraction must be in (0, 1)"));
  return o;
}

}  // namespace funnel::training
