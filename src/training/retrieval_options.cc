#include "funnel/training/retrieval_options.h"

#include <algorithm>

#include "funnel/core/toml_table.h"
#include "funnel/ranking/candidate_ranker.h"
#include "funnel/ranking/rerank.h"

namespace funnel::training {

namespace {

constexpr NumberRange kAtLeastZero{.min = 0};

// Every [retrieval] key, once: reads into RetrievalTrainOptions through a TomlTableReader, writes
// them through a TomlTableWriter (O is then const). The order is funnel.toml's.
template <typename Io, typename O>
Status BindRetrieval(Io& r, O& o) {
  static const std::vector<std::string> kFusions = {"search", "logistic"};
  static const std::vector<std::string> kNormalizations = {"rank", "score"};
  FUNNEL_RETURN_IF_ERROR(r.Names("sources", "source", KnownSources(), &o.sources));
  FUNNEL_RETURN_IF_ERROR(r.Bool("tune", &o.tune));
  FUNNEL_RETURN_IF_ERROR(r.Number("validation_fraction", &o.validation_fraction,
                                  NumberRange{.min = 0, .max = 1, .min_open = true, .max_open = true}));
  FUNNEL_RETURN_IF_ERROR(r.Int("validation_windows", &o.validation_windows, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("max_validation_users", &o.max_validation_users, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("min_validation_users", &o.min_validation_users, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("min_model_tuning_users", &o.min_model_tuning_users, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Number("time_budget_seconds", &o.time_budget_seconds));
  FUNNEL_RETURN_IF_ERROR(r.Int("threads", &o.threads, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("max_candidates", &o.max_candidates, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Number("low_rating", &o.data.low_rating));
  FUNNEL_RETURN_IF_ERROR(r.Number("max_watch_ratio", &o.data.max_watch_ratio));
  FUNNEL_RETURN_IF_ERROR(r.Number("strength_half_life_days", &o.data.half_life_days));
  FUNNEL_RETURN_IF_ERROR(r.Int("recent_items", &o.data.recent_items, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.NumberList("trending_half_life_fractions", &o.trending_half_life_fractions));
  FUNNEL_RETURN_IF_ERROR(r.NumberList("ease_lambdas", &o.ease_lambdas));
  FUNNEL_RETURN_IF_ERROR(r.Int("ease_max_items", &o.ease.max_items, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.NumberList("ials_alphas", &o.ials_alphas));
  FUNNEL_RETURN_IF_ERROR(r.NumberList("ials_regularizations", &o.ials_regularizations));
  FUNNEL_RETURN_IF_ERROR(r.Int("ials_factors", &o.ials.factors, IntRange{.min = 1, .max = 1024}));
  FUNNEL_RETURN_IF_ERROR(r.Int("ials_iterations", &o.ials.iterations, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Choice("fusion", "fusion", kFusions, &o.fusion));
  FUNNEL_RETURN_IF_ERROR(r.Choice("fusion_normalization", "normalization", kNormalizations, &o.fusion_normalization));
  FUNNEL_RETURN_IF_ERROR(r.NumberList("rank_offsets", &o.rank_offsets));
  FUNNEL_RETURN_IF_ERROR(r.Int("ann_m", &o.ann.m, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("ann_ef_construction", &o.ann.ef_construction, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("ann_ef_search", &o.ann.ef_search, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("ann_norm_shards", &o.ann.norm_shards, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("ann_exact_below", &o.ann.exact_below, kNonNegative));
  {
    FUNNEL_ASSIGN_OR_RETURN(auto q, r.Table("quotas"));
    for (auto& [name, quota] : o.quotas) FUNNEL_RETURN_IF_ERROR(q.Int(name, &quota, kNonNegative));
    FUNNEL_RETURN_IF_ERROR(q.Done());
  }
  {
    FUNNEL_ASSIGN_OR_RETURN(auto f, r.Table("fresh"));
    FUNNEL_RETURN_IF_ERROR(f.Number("half_life_days", &o.fresh.half_life_days));
    FUNNEL_RETURN_IF_ERROR(f.Number("max_age_days", &o.fresh.max_age_days));
    FUNNEL_RETURN_IF_ERROR(f.Done());
  }
  {
    FUNNEL_ASSIGN_OR_RETURN(auto c, r.Table("covisit"));
    FUNNEL_RETURN_IF_ERROR(c.Number("window_hours", &o.covisit.window_hours));
    FUNNEL_RETURN_IF_ERROR(c.Number("decay_hours", &o.covisit.decay_hours));
    FUNNEL_RETURN_IF_ERROR(c.Int("max_gap", &o.covisit.max_gap, kNonNegative));
    FUNNEL_RETURN_IF_ERROR(c.Int("neighbors", &o.covisit.neighbors, kNonNegative));
    FUNNEL_RETURN_IF_ERROR(c.Number("recency", &o.covisit.recency));
    FUNNEL_RETURN_IF_ERROR(c.Int("recent_items", &o.covisit.recent_items, kNonNegative));
    FUNNEL_RETURN_IF_ERROR(c.Number("pair_half_life_days", &o.covisit.pair_half_life_days, kAtLeastZero));
    FUNNEL_RETURN_IF_ERROR(c.Number("popularity_exponent", &o.covisit.popularity_exponent, NumberRange{.min = 0, .max = 1}));
    FUNNEL_RETURN_IF_ERROR(c.Done());
  }
  return r.Done();
}

// Every [ranking] key, the same way.
template <typename Io, typename O>
Status BindRanking(Io& r, O& o) {
  FUNNEL_RETURN_IF_ERROR(r.StringList("rankers", &o.rankers));
  FUNNEL_RETURN_IF_ERROR(r.Int("depth", &o.depth, IntRange{.min = 1, .max = 100000}));
  FUNNEL_RETURN_IF_ERROR(r.Int("trees", &o.trees, IntRange{.min = 1, .max = 100000}));
  FUNNEL_RETURN_IF_ERROR(r.Int("max_depth", &o.max_depth, IntRange{.min = 1, .max = ranking::TreeEnsemble::kMaxDepth}));
  FUNNEL_RETURN_IF_ERROR(r.Number("eta", &o.eta, NumberRange{.min = 0, .max = 1, .min_open = true}));
  FUNNEL_RETURN_IF_ERROR(r.Number("min_child_weight", &o.min_child_weight, kAtLeastZero));
  FUNNEL_RETURN_IF_ERROR(r.Number("subsample", &o.subsample, NumberRange{.min = 0, .max = 1, .min_open = true}));
  FUNNEL_RETURN_IF_ERROR(r.Int("early_stopping_rounds", &o.early_stopping_rounds, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Number("min_improvement", &o.min_improvement, kAtLeastZero));
  return r.Done();
}

// Every [rerank] key, the same way.
template <typename Io, typename O>
Status BindRerank(Io& r, O& o) {
  FUNNEL_RETURN_IF_ERROR(r.StringList("steps", &o.steps));
  FUNNEL_RETURN_IF_ERROR(r.Int("pool", &o.pool, IntRange{.min = 1, .max = 100000}));
  FUNNEL_RETURN_IF_ERROR(r.Number("mmr_lambda", &o.mmr_lambda, NumberRange{.min = 0, .max = 1}));
  FUNNEL_RETURN_IF_ERROR(r.Int("cap_window", &o.cap_window, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("max_per_creator", &o.max_per_creator, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("max_per_category", &o.max_per_category, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Number("explore_share", &o.explore_share, NumberRange{.min = 0, .max = 1}));
  FUNNEL_RETURN_IF_ERROR(r.Int("explore_max_impressions", &o.explore_max_impressions, kNonNegative));
  FUNNEL_RETURN_IF_ERROR(r.Int("seed", &o.seed, kNonNegative));
  return r.Done();
}

}  // namespace

StatusOr<RetrievalTrainOptions> ParseRetrievalOptions(std::string_view toml_text, std::string_view source_name) {
  FUNNEL_ASSIGN_OR_RETURN(TomlDocument doc, TomlDocument::Parse(toml_text, source_name));
  TomlTableReader root = doc.Root();
  FUNNEL_ASSIGN_OR_RETURN(TomlTableReader table, root.Table("retrieval"));
  RetrievalTrainOptions o;
  FUNNEL_RETURN_IF_ERROR(BindRetrieval(table, o));
  FUNNEL_ASSIGN_OR_RETURN(TomlTableReader ranking_table, root.Table("ranking"));
  FUNNEL_RETURN_IF_ERROR(BindRanking(ranking_table, o.ranking));
  FUNNEL_ASSIGN_OR_RETURN(TomlTableReader rerank_table, root.Table("rerank"));
  FUNNEL_RETURN_IF_ERROR(BindRerank(rerank_table, o.rerank));
  if (StatusOr<ranking::Reranker> steps = ranking::Reranker::Create(o.rerank); !steps.ok())
    return absl::InvalidArgumentError(Cat(source_name, ": [rerank] steps: ", MessageOf(steps.status())));
  const std::vector<std::string> kinds = ranking::RankerKinds();
  for (const std::string& kind : o.ranking.rankers) {
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) continue;
    std::string known;
    for (const std::string& k : kinds) known += known.empty() ? k : Cat(", ", k);
    return absl::InvalidArgumentError(Cat(source_name, ": [ranking] rankers: unknown ranker '", kind, "'; known: ", known));
  }
  return o;
}

StatusOr<RetrievalTrainOptions> RetrievalTrainOptionsFromConfig(const Config& cfg) {
  if (cfg.source_text.empty()) return RetrievalTrainOptions{};
  return ParseRetrievalOptions(cfg.source_text, cfg.source_name);
}

std::string RetrievalOptionsToml(const RetrievalTrainOptions& o) {
  TomlTableWriter table("retrieval");
  FUNNEL_CHECK(BindRetrieval(table, o).ok());  // writing cannot fail
  TomlTableWriter ranking_table("ranking");
  FUNNEL_CHECK(BindRanking(ranking_table, o.ranking).ok());
  TomlTableWriter rerank_table("rerank");
  FUNNEL_CHECK(BindRerank(rerank_table, o.rerank).ok());
  return Cat(table.Text(), "\n", ranking_table.Text(), "\n", rerank_table.Text());
}

std::vector<std::string> RetrievalOptionKeys() {
  StatusOr<TomlDocument> empty = TomlDocument::Parse("", "keys");
  FUNNEL_CHECK(empty.ok());
  TomlTableReader root = empty->Root();
  StatusOr<TomlTableReader> table = root.Table("retrieval");
  FUNNEL_CHECK(table.ok());
  RetrievalTrainOptions o;
  FUNNEL_CHECK(BindRetrieval(*table, o).ok());
  StatusOr<TomlTableReader> ranking_table = root.Table("ranking");
  FUNNEL_CHECK(ranking_table.ok());
  FUNNEL_CHECK(BindRanking(*ranking_table, o.ranking).ok());
  StatusOr<TomlTableReader> rerank_table = root.Table("rerank");
  FUNNEL_CHECK(rerank_table.ok());
  FUNNEL_CHECK(BindRerank(*rerank_table, o.rerank).ok());
  return root.KnownKeys();
}

}  // namespace funnel::training
