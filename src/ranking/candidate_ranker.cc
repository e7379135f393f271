#include "funnel/ranking/candidate_ranker.h"

#include <algorithm>
#include <numeric>

#include "funnel/core/blob_file.h"

namespace funnel::ranking {

std::vector<std::string> RankerKinds() { return {"logistic", "gbdt", "lambdamart"}; }

StatusOr<std::shared_ptr<const CandidateRanker>> CandidateRanker::Create(std::string kind, std::string model,
                                                                         std::vector<std::string> features,
                                                                         size_t depth) {
  std::shared_ptr<CandidateRanker> r(new CandidateRanker());
  if (kind == "logistic") {
    FUNNEL_ASSIGN_OR_RETURN(LogisticRegression lr, LogisticRegression::Load(model));
    if (lr.num_features() != features.size())
      return absl::InvalidArgumentError(Cat("ranker: the model reads ", lr.num_features(), " features, ",
                                            features.size(), " are named"));
    r->linear_ = std::move(lr);
  } else if (kind == "gbdt" || kind == "lambdamart") {
    FUNNEL_ASSIGN_OR_RETURN(TreeEnsemble trees, TreeEnsemble::FromXgboostJson(model));
    // XGBoost records the widest column a split uses, which can be fewer than the rows have.
    if (trees.num_features() > features.size())
      return absl::InvalidArgumentError(Cat("ranker: the model reads ", trees.num_features(), " features, ",
                                            features.size(), " are named"));
    r->trees_ = std::move(trees);
  } else {
    std::string known;
    for (const std::string& k : RankerKinds()) known += known.empty() ? k : Cat(", ", k);
    return absl::InvalidArgumentError(Cat("unknown ranker '", kind, "'; known: ", known));
  }
  if (depth == 0) return absl::InvalidArgumentError("ranker: depth must be at least 1");
  r->kind_ = std::move(kind);
  r->model_ = std::move(model);
  r->features_ = std::move(features);
  r->depth_ = depth;
  return std::shared_ptr<const CandidateRanker>(std::move(r));
}

Status CandidateRanker::Save(const std::string& path) const {
  BlobWriter w("ranker");
  w.AddString("kind", kind_);
  w.AddString("model", model_);
  std::string names;
  for (const std::string& f : features_) names += f + "\n";
  w.AddString("features", names);
  w.Add("depth", std::vector<uint64_t>{depth_});
  return w.Write(path);
}

StatusOr<std::shared_ptr<const CandidateRanker>> CandidateRanker::Load(const std::string& path) {
  FUNNEL_ASSIGN_OR_RETURN(BlobReader r, BlobReader::Open(path, "ranker"));
  FUNNEL_ASSIGN_OR_RETURN(std::string kind, r.GetString("kind"));
  FUNNEL_ASSIGN_OR_RETURN(std::string model, r.GetString("model"));
  FUNNEL_ASSIGN_OR_RETURN(std::string names, r.GetString("features"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<uint64_t> depth, r.Get<uint64_t>("depth"));
  if (depth.size() != 1) return absl::DataLossError(Cat(path, ": section 'depth' must hold one value"));
  std::vector<std::string> features;
  for (size_t at = 0; at < names.size();) {
    const size_t nl = names.find('\n', at);
    if (nl == std::string::npos) return absl::DataLossError(Cat(path, ": section 'features' is not newline-terminated"));
    features.push_back(names.substr(at, nl - at));
    at = nl + 1;
  }
  StatusOr<std::shared_ptr<const CandidateRanker>> out =
      Create(std::move(kind), std::move(model), std::move(features), depth[0]);
  if (!out.ok()) return absl::DataLossError(Cat(path, ": ", MessageOf(out.status())));
  return out;
}

Status CandidateRanker::Score(DenseMatrixView rows, std::span<float> out) const {
  if (rows.cols != features_.size())
    return absl::InvalidArgumentError(Cat("ranker: rows have ", rows.cols, " features, the model ", features_.size()));
  if (linear_) return linear_->Margins(rows, out);
  if (trees_->num_features() == rows.cols) return trees_->Margins(rows, out);
  // The trees read a prefix of the columns: hand them exactly that many.
  const size_t cols = trees_->num_features();
  std::vector<float> narrow(rows.rows * cols);
  for (size_t i = 0; i < rows.rows; ++i)
    std::copy_n(rows.values.data() + i * rows.cols, cols, narrow.data() + i * cols);
  return trees_->Margins({narrow, rows.rows, cols}, out);
}

std::vector<std::string> StoreFeaturesOf(const CandidateRanker& ranker) {
  std::vector<std::string> out;
  for (const std::string& f : ranker.features())
    if (f.starts_with("store.")) out.push_back(f.substr(6));
  return out;
}

Status CheckRankerFeatures(const CandidateRanker& ranker, const retrieval::Merger& merger,
                           const CandidateFeatureSource* store) {
  const std::vector<std::string> sources = merger.SourceNames();
  const std::vector<std::string> want =
      CandidateFeatureNames(sources, store != nullptr ? std::span<const std::string>(store->names())
                                                      : std::span<const std::string>());
  if (want == ranker.features()) return absl::OkStatus();
  const std::vector<std::string> trained = StoreFeaturesOf(ranker);
  return absl::FailedPreconditionError(
      Cat("the ranker was trained on ", ranker.features().size(), " features (", trained.size(),
          " from the feature store), this request computes ", want.size(), " (",
          store != nullptr ? store->names().size() : 0,
          " from the feature store): the feature definitions changed since training; run funnel train again"));
}

StatusOr<std::vector<retrieval::Candidate>> RankCandidates(const retrieval::CandidateSet& c,
                                                           const retrieval::UserState& user,
                                                           const retrieval::Merger& merger,
                                                           const CandidateRanker* ranker, size_t k,
                                                           CandidateRows* rows,
                                                           const CandidateFeatureSource* store) {
  if (ranker == nullptr) {
    rows->candidate.clear();
    rows->values.clear();
    rows->fused = merger.Fuse(c, k);
    return rows->fused;
  }
  // A count check per request; the names are checked where a model meets a feature source
  // (CheckRankerFeatures: at load, and when serving binds the feature store).
  if (CandidateFeatureCount(c.sources, store) != ranker->features().size()) return CheckRankerFeatures(*ranker, merger, store);
  ComputeCandidateRows(c, user, merger, ranker->depth(), rows, store);
  const size_t n = rows->candidate.size();
  std::vector<float> score(n);
  FUNNEL_RETURN_IF_ERROR(ranker->Score({rows->values, n, rows->cols}, score));
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  // NaN cannot come out of finite rows, but a model file is outside input: rank it last.
  auto key = [&](uint32_t i) { return std::isnan(score[i]) ? -std::numeric_limits<float>::infinity() : score[i]; };
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return key(a) > key(b); });
  std::vector<retrieval::Candidate> out;
  out.reserve(std::min(k, rows->fused.size()));
  for (size_t i = 0; i < n && out.size() < k; ++i) out.push_back({rows->fused[order[i]].item, key(order[i])});
  float floor = n > 0 ? key(order[n - 1]) : 0.0f;
  if (!std::isfinite(floor)) floor = -1e30f;
  for (size_t i = n; i < rows->fused.size() && out.size() < k; ++i)
    out.push_back({rows->fused[i].item, floor - 1.0f - static_cast<float>(i - n) * 1e-3f});
  return out;
}

}  // namespace funnel::ranking
