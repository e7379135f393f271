#include "funnel/retrieval/cf_sources.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cmath>
#include <limits>

#include "funnel/core/blob_file.h"

namespace funnel::retrieval {

namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
constexpr uint32_t kNoColumn = UINT32_MAX;

std::atomic<uint64_t> next_ials_id{1};

// Merger::Candidates asks each source to Retrieve and then to Score for the same state, and the
// iALS fold-in (O(history·f²)) is most of both calls. Each thread keeps its last fold-in, keyed
// by the source instance and the state's exact (items, strengths) bytes: the Score after a
// Retrieve reuses it, any other state or source recomputes, so results are those of a fresh
// fold-in. (The Source interface has no per-request object to carry it in.)
struct FoldInMemo {
  uint64_t source = 0;  // 0: empty
  std::vector<uint32_t> items;
  std::vector<float> strengths;
  std::vector<float> vector;
};
thread_local FoldInMemo fold_in_memo;

template <typename T>
bool SameBytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

}  // namespace

// ---- iALS ----

StatusOr<std::unique_ptr<IalsSource>> IalsSource::Build(const TrainingSet& ts, const IalsOptions& options,
                                                        const AnnOptions& ann) {
  FUNNEL_ASSIGN_OR_RETURN(IalsModel model, TrainIals(ts.user_items, options));
  model.user_factors.resize(0, model.factors());  // request-time fold-in replaces them
  FUNNEL_ASSIGN_OR_RETURN(auto index,
                          BuildVectorIndex(std::span<const float>(model.item_factors.data(), model.item_factors.size()),
                                           static_cast<uint32_t>(model.item_factors.rows()), model.factors(), ann));
  return std::unique_ptr<IalsSource>(new IalsSource(std::move(model), options, std::move(index), ann.ef_search));
}

IalsSource::IalsSource(IalsModel model, IalsOptions options, std::unique_ptr<VectorIndex> index, int ef)
    : model_(std::move(model)), options_(options), index_(std::move(index)), ef_(ef), id_(next_ials_id++) {}

std::vector<float> IalsSource::UserVector(const UserState& user) const {
  if (user.items.empty()) return {};
  FoldInMemo& memo = fold_in_memo;
  if (memo.source != id_ || !SameBytes(memo.items, user.items) || !SameBytes(memo.strengths, user.strengths)) {
    memo.source = 0;  // stays empty if anything below throws
    memo.vector.assign(model_.factors(), 0.0f);
    FoldInUser(model_, options_, user.items, user.strengths, memo.vector);
    memo.items = user.items;
    memo.strengths = user.strengths;
    memo.source = id_;
  }
  const std::vector<float>& v = memo.vector;
  if (std::all_of(v.begin(), v.end(), [](float x) { return x == 0; })) return {};
  return v;
}

void IalsSource::Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const {
  out->clear();
  std::vector<float> v = UserVector(user);
  if (v.empty()) return;
  SearchParams sp;
  sp.k = params.k;
  sp.ef = std::max<int>(ef_, static_cast<int>(params.k));
  sp.filter = [&](uint32_t item) { return !user.Excluded(item); };
  std::vector<std::vector<Neighbor>> found;
  index_->Search(v, 1, sp, &found);
  for (const Neighbor& n : found[0]) out->push_back({n.id, n.score});
}

void IalsSource::Score(const UserState& user, std::span<const uint32_t> items, Timestamp, std::span<float> out) const {
  std::vector<float> v = UserVector(user);
  for (size_t j = 0; j < items.size(); ++j) {
    if (v.empty() || items[j] >= model_.item_factors.rows()) {
      out[j] = 0;
      continue;
    }
    out[j] = Eigen::Map<const Eigen::VectorXf>(v.data(), v.size()).dot(model_.item_factors.row(items[j]).transpose());
  }
}

Status IalsSource::Save(const std::string& dir) const {
  BlobWriter w("ials");
  w.Add("item_factors", std::span<const float>(model_.item_factors.data(), model_.item_factors.size()));
  w.Add("item_gram", std::span<const float>(model_.item_gram.data(), model_.item_gram.size()));
  w.Add("shape", std::vector<uint64_t>{static_cast<uint64_t>(model_.item_factors.rows()),
                                        static_cast<uint64_t>(model_.factors())});
  w.Add("options", std::vector<double>{options_.regularization, options_.alpha, double(ef_)});
  FUNNEL_RETURN_IF_ERROR(w.Write(dir + "/ials.blob"));
  return index_->Save(dir + "/ials.index");
}

StatusOr<std::unique_ptr<IalsSource>> IalsSource::Load(const std::string& dir) {
  const std::string path = dir + "/ials.blob";
  FUNNEL_ASSIGN_OR_RETURN(BlobReader r, BlobReader::Open(path, "ials"));
  FUNNEL_ASSIGN_OR_RETURN(auto shape, r.Get<uint64_t>("shape"));
  FUNNEL_ASSIGN_OR_RETURN(auto factors, r.Get<float>("item_factors"));
  FUNNEL_ASSIGN_OR_RETURN(auto gram, r.Get<float>("item_gram"));
  FUNNEL_ASSIGN_OR_RETURN(auto opts, r.Get<double>("options"));
  if (shape.size() != 2 || shape[1] == 0 || factors.size() != shape[0] * shape[1] ||
      gram.size() != shape[1] * shape[1] || opts.size() != 3)
    return absl::DataLossError(Cat(path, ": inconsistent shapes"));
  IalsModel m;
  const auto rows = static_cast<Eigen::Index>(shape[0]), f = static_cast<Eigen::Index>(shape[1]);
  m.item_factors = Eigen::Map<const FactorMatrix>(factors.data(), rows, f);
  m.item_gram = Eigen::Map<const Eigen::MatrixXf>(gram.data(), f, f);
  m.user_factors.resize(0, f);
  IalsOptions o;
  o.factors = static_cast<int>(f);
  o.regularization = opts[0];
  o.alpha = opts[1];
  FUNNEL_ASSIGN_OR_RETURN(auto index, LoadVectorIndex(dir + "/ials.index"));
  if (index->size() != shape[0] || index->dim() != f)
    return absl::DataLossError(Cat(dir, "/ials.index does not match ", path));
  return std::unique_ptr<IalsSource>(new IalsSource(std::move(m), o, std::move(index), static_cast<int>(opts[2])));
}

// ---- EASE ----

EaseSource::EaseSource(EaseModel model, EaseOptions options, std::vector<uint32_t> items, uint32_t num_items)
    : model_(std::move(model)), options_(options), items_(std::move(items)), column_(num_items, kNoColumn) {
  for (uint32_t c = 0; c < items_.size(); ++c) column_[items_[c]] = c;
}

StatusOr<std::unique_ptr<EaseSource>> EaseSource::Build(const TrainingSet& ts, const EaseOptions& options) {
  if (ts.catalog.size() > options.max_items)
    return absl::FailedPreconditionError(Cat("ease: the catalog has ", ts.catalog.size(),
                                             " items, above retrieval.ease.max_items = ", options.max_items));
  // Only items seen before the cutoff: the dense model is n², so unseen columns would be waste.
  std::vector<uint32_t> column(ts.num_items, kNoColumn);
  for (uint32_t c = 0; c < ts.catalog.size(); ++c) column[ts.catalog[c]] = c;
  std::vector<Triplet> t;
  t.reserve(ts.user_items.nnz());
  for (uint32_t u = 0; u < ts.user_items.rows; ++u)
    for (uint64_t j = ts.user_items.offsets[u]; j < ts.user_items.offsets[u + 1]; ++j)
      if (column[ts.user_items.indices[j]] != kNoColumn)
        t.push_back({u, column[ts.user_items.indices[j]], ts.user_items.values[j]});
  CsrMatrix x = CsrMatrix::FromTriplets(ts.num_users, static_cast<uint32_t>(ts.catalog.size()), std::move(t));
  FUNNEL_ASSIGN_OR_RETURN(EaseModel model, TrainEase(x, options));
  return std::unique_ptr<EaseSource>(new EaseSource(std::move(model), options, ts.catalog, ts.num_items));
}

void EaseSource::ScoreAll(const UserState& user, std::vector<float>* scores) const {
  std::vector<uint32_t> cols;
  std::vector<float> strengths;
  for (size_t j = 0; j < user.items.size(); ++j) {
    uint32_t item = user.items[j];
    if (item < column_.size() && column_[item] != kNoColumn) {
      cols.push_back(column_[item]);
      strengths.push_back(user.strengths[j]);
    }
  }
  std::vector<float> compact(items_.size(), 0.0f);
  if (!cols.empty()) ScoreEase(model_, options_, cols, strengths, compact);
  scores->assign(column_.size(), kMinusInf);
  for (uint32_t c = 0; c < items_.size(); ++c) (*scores)[items_[c]] = compact[c];
}

void EaseSource::Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const {
  out->clear();
  // A user none of whose pairs enters the model (items outside the catalog, or only dislikes,
  // which binarized EASE reads as 0) would get every item at score 0: arbitrary items, not
  // candidates. Like iALS, EASE then has none.
  bool usable = false;
  for (size_t j = 0; j < user.items.size() && !usable; ++j)
    usable = user.items[j] < column_.size() && column_[user.items[j]] != kNoColumn &&
             (options_.binarize ? user.strengths[j] > 0 : user.strengths[j] != 0);
  if (!usable) return;
  std::vector<float> scores;
  ScoreAll(user, &scores);
  TopK(scores, params.k, user, out);
}

void EaseSource::Score(const UserState& user, std::span<const uint32_t> items, Timestamp, std::span<float> out) const {
  // Only the asked items' columns (O(history·items)), not the whole score vector
  // (O(history·catalog)) that Retrieve needs: the same sums, bit for bit (ScoreEaseColumns).
  std::vector<uint32_t> history, columns(items.size(), kNoColumn);
  std::vector<float> strengths;
  for (size_t j = 0; j < user.items.size(); ++j) {
    const uint32_t item = user.items[j];
    if (item < column_.size() && column_[item] != kNoColumn) {
      history.push_back(column_[item]);
      strengths.push_back(user.strengths[j]);
    }
  }
  for (size_t j = 0; j < items.size(); ++j)
    if (items[j] < column_.size()) columns[j] = column_[items[j]];
  ScoreEaseColumns(model_, options_, history, strengths, columns, out);
}

Status EaseSource::Save(const std::string& dir) const {
  BlobWriter w("ease");
  w.Add("weights", std::span<const float>(model_.weights.data(), model_.weights.size()));
  w.Add("items", items_);
  w.Add("shape", std::vector<uint64_t>{items_.size(), column_.size()});
  w.Add("options", std::vector<double>{options_.lambda, options_.binarize ? 1.0 : 0.0});
  return w.Write(dir + "/ease.blob");
}

StatusOr<std::unique_ptr<EaseSource>> EaseSource::Load(const std::string& dir) {
  const std::string path = dir + "/ease.blob";
  FUNNEL_ASSIGN_OR_RETURN(BlobReader r, BlobReader::Open(path, "ease"));
  FUNNEL_ASSIGN_OR_RETURN(auto shape, r.Get<uint64_t>("shape"));
  FUNNEL_ASSIGN_OR_RETURN(auto items, r.Get<uint32_t>("items"));
  FUNNEL_ASSIGN_OR_RETURN(auto weights, r.Get<float>("weights"));
  FUNNEL_ASSIGN_OR_RETURN(auto opts, r.Get<double>("options"));
  if (shape.size() != 2 || items.size() != shape[0] || weights.size() != shape[0] * shape[0] || opts.size() != 2)
    return absl::DataLossError(Cat(path, ": inconsistent shapes"));
  for (uint32_t i : items)
    if (i >= shape[1]) return absl::DataLossError(Cat(path, ": item index out of range"));
  EaseModel m;
  const auto n = static_cast<Eigen::Index>(shape[0]);
  m.weights = Eigen::Map<const decltype(m.weights)>(weights.data(), n, n);
  EaseOptions o;
  o.lambda = opts[0];
  o.binarize = opts[1] != 0;
  return std::unique_ptr<EaseSource>(new EaseSource(std::move(m), o, std::move(items), static_cast<uint32_t>(shape[1])));
}

}  // namespace funnel::retrieval
