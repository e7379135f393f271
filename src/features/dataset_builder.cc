#include "funnel/features/dataset_builder.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "features/dataset_writer.h"
#include "funnel/core/hash.h"
#include "funnel/core/thread_pool.h"
#include "funnel/events/labels.h"
#include "funnel/features/feature_fold.h"

namespace funnel::features {

namespace {

constexpr size_t kLabels = kDatasetLabels;
enum LabelIndex { kLabel, kEngaged, kLiked, kShared, kSkipped, kWatchSeconds, kRating };

// Deterministic for a seed on every platform, unlike std:: distributions.
struct SplitMix64 {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

constexpr uint64_t kNoRow = UINT64_MAX;

// Rows awaiting their label horizon, oldest first. The feature vectors live in one ring of
// floats beside the heads, so a row costs no allocation; the rings double when full. An
// impression row also keeps its request id and the absolute index of the previous impression
// of the same user and item, so feedback finds its impression through one integer-keyed map.
// Thread-safety: none; only the fold thread touches it.
class PendingRows {
 public:
  explicit PendingRows(size_t features) : features_(features) {}
  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  RowHead& head(size_t i) { return heads_[Slot(i)]; }
  float* x(size_t i) { return x_.data() + Slot(i) * features_; }
  std::string& request(size_t i) { return requests_[Slot(i)]; }
  uint64_t& previous(size_t i) { return previous_[Slot(i)]; }
  // Appends a row and returns its position (valid until the next PushBack or PopFront).
  size_t PushBack() {
    if (count_ == heads_.size()) Grow();
    return count_++;
  }
  void PopFront() {
    first_ = (first_ + 1) & mask_;
    --count_;
  }

 private:
  size_t Slot(size_t i) const { return (first_ + i) & mask_; }
  void Grow() {
    const size_t capacity = std::max<size_t>(1024, 2 * heads_.size());
    std::vector<RowHead> heads(capacity);
    std::vector<float> x(capacity * features_);
    std::vector<std::string> requests(capacity);
    std::vector<uint64_t> previous(capacity);
    for (size_t i = 0; i < count_; ++i) {
      heads[i] = head(i);
      std::copy_n(this->x(i), features_, x.data() + i * features_);
      requests[i] = std::move(request(i));
      previous[i] = this->previous(i);
    }
    heads_ = std::move(heads);
    x_ = std::move(x);
    requests_ = std::move(requests);
    previous_ = std::move(previous);
    first_ = 0;
    mask_ = capacity - 1;
  }
  const size_t features_;
  std::vector<RowHead> heads_;
  std::vector<float> x_;
  std::vector<std::string> requests_;  // reused in place: no allocation once warm
  std::vector<uint64_t> previous_;
  size_t first_ = 0, count_ = 0, mask_ = 0;
};

}  // namespace

StatusOr<DatasetSummary> BuildDataset(const store::EventStore& store, std::vector<FeatureSpec> specs,
                                      const EventsConfig& events, const DatasetOptions& options,
                                      const std::string& out_path) {
  auto start = std::chrono::steady_clock::now();
  FUNNEL_ASSIGN_OR_RETURN(auto fold, FeatureFold::Create(std::move(specs), &store));
  const size_t nf = fold->names().size();
  const int threads = options.threads > 0 ? options.threads : HardwareThreads();
  FUNNEL_ASSIGN_OR_RETURN(auto writer, DatasetWriter::Open(out_path, fold->names(), store, threads >= 2));

  // How each event type acts on rows: impressions open rows, feedback labels them.
  using events::LabelRole;
  events::TypeLabels labels(events::LabelRule(events), [&](TypeIdx t) { return store.TypeName(t); });

  DatasetSummary summary;
  summary.features = nf;
  PendingRows pending(nf);    // rows awaiting their label horizon, in creation order
  uint64_t pending_base = 0;  // absolute index of pending's first row
  // user << 32 | item -> absolute index of its newest impression row with a request id.
  absl::flat_hash_map<uint64_t, uint64_t> open_impressions;
  std::vector<ItemIdx> seen_items;
  std::vector<bool> item_seen;
  SplitMix64 rng{options.seed};
  const int64_t horizon_us = static_cast<int64_t>(options.label_horizon_seconds * 1e6);
  auto user_item = [](const store::StoredEvent& e) { return (uint64_t{Raw(e.user)} << 32) | Raw(e.item); };
  // The pending impression row that feedback `e` answers: the newest with its user, item and
  // request id, if not yet written.
  auto find_impression = [&](const store::StoredEvent& e) -> std::optional<size_t> {
    auto it = open_impressions.find(user_item(e));
    if (it == open_impressions.end()) return std::nullopt;
    for (uint64_t row = it->second; row != kNoRow && row >= pending_base;
         row = pending.previous(row - pending_base)) {
      if (pending.request(row - pending_base) == e.request_id) return row - pending_base;
    }
    return std::nullopt;
  };
  auto flush_until = [&](int64_t now_us) {
    while (!pending.empty() && pending.head(0).ts_us + horizon_us <= now_us) {
      writer->Append(pending.head(0), pending.x(0));
      pending.PopFront();
      ++pending_base;
    }
  };
  // Returns the row's position in `pending`.
  auto add_row = [&](const store::StoredEvent& e, ItemIdx item, RowKind kind) -> size_t {
    size_t i = pending.PushBack();
    RowHead& r = pending.head(i);
    r = RowHead{e.seq, e.ts.micros(), e.user, item, kind, {}};
    r.labels[kRating] = std::numeric_limits<float>::quiet_NaN();
    fold->Compute(e.user, item, e.ts, std::span<float>(pending.x(i), nf));  // before the event is applied: no leakage
    ++summary.rows;
    return i;
  };

  Status replay = store.Replay(Timestamp::Min(), options.until, [&](const store::StoredEvent& e) {
    ++summary.events;
    flush_until(e.ts.micros());
    const events::TypeLabel& type = labels[e.type];
    const LabelRole role = type.role;
    bool answered = false;
    if (!e.request_id.empty() && role != LabelRole::kExposure && role != LabelRole::kNone) {
      if (std::optional<size_t> row = find_impression(e)) {
        auto& row_labels = pending.head(*row).labels;
        answered = true;
        if (role == LabelRole::kPositive || role == LabelRole::kRating) row_labels[kEngaged] = row_labels[kLabel] = 1;
        if (type.like) row_labels[kLiked] = 1;
        if (type.share) row_labels[kShared] = 1;
        if (type.skip) row_labels[kSkipped] = 1;
        if (type.watch && e.value) row_labels[kWatchSeconds] += static_cast<float>(*e.value);
        if (role == LabelRole::kRating && e.value) row_labels[kRating] = static_cast<float>(*e.value);
      }
    }
    if (role == LabelRole::kExposure) {
      const size_t row = add_row(e, e.item, RowKind::kImpression);
      ++summary.impression_rows;
      if (!e.request_id.empty()) {
        const uint64_t index = pending_base + row;
        auto [it, inserted] = open_impressions.try_emplace(user_item(e), index);
        pending.previous(row) = inserted ? kNoRow : std::exchange(it->second, index);
        pending.request(row).assign(e.request_id);
      }
    } else if (!answered && (role == LabelRole::kPositive || role == LabelRole::kRating)) {
      auto& row_labels = pending.head(add_row(e, e.item, RowKind::kEngagement)).labels;
      ++summary.engagement_rows;
      const bool positive = labels.IsPositive(e.type, e.value);
      row_labels[kLabel] = row_labels[kEngaged] = positive ? 1 : 0;
      if (role == LabelRole::kRating && e.value) row_labels[kRating] = static_cast<float>(*e.value);
      if (type.like) row_labels[kLiked] = 1;
      if (type.share) row_labels[kShared] = 1;
      if (positive && !seen_items.empty()) {
        for (int k = 0; k < options.negatives_per_positive; ++k) {
          ItemIdx neg = seen_items[rng.Next() % seen_items.size()];
          if (neg == e.item) continue;  // a negative never names the positive item
          add_row(e, neg, RowKind::kNegative);
          ++summary.negative_rows;
        }
      }
    }
    if (item_seen.size() <= Raw(e.item)) item_seen.resize(Raw(e.item) + 1, false);
    if (!item_seen[Raw(e.item)]) {
      item_seen[Raw(e.item)] = true;
      seen_items.push_back(e.item);
    }
    fold->Apply(e);
    if (open_impressions.size() > 4 * pending.size() + 1024) {  // forget impressions already written
      for (auto it = open_impressions.begin(); it != open_impressions.end();) {
        if (it->second < pending_base) open_impressions.erase(it++);
        else ++it;
      }
    }
    return true;
  });
  FUNNEL_RETURN_IF_ERROR(replay);
  flush_until(std::numeric_limits<int64_t>::max());
  FUNNEL_RETURN_IF_ERROR(writer->Finish());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

StatusOr<std::vector<DatasetRow>> ReadDataset(const std::string& path,
                                              std::vector<std::string>* feature_names) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(Cat("cannot open dataset ", path));
  std::string line;
  if (!std::getline(in, line) || line != "#funnel-dataset\t1")
    return absl::InvalidArgumentError(Cat(path, ": not a funnel dataset (version 1)"));
  if (!std::getline(in, line) || !line.starts_with("#columns\t"))
    return absl::InvalidArgumentError(Cat(path, ": missing #columns line"));
  std::vector<std::string> columns;
  for (size_t pos = 9; pos <= line.size();) {
    size_t tab = line.find('\t', pos);
    if (tab == std::string::npos) tab = line.size();
    std::string col = line.substr(pos, tab - pos);
    columns.push_back(col.substr(0, col.rfind(':')));
    pos = tab + 1;
  }
  const size_t fixed = 5 + kLabels;
  if (columns.size() < fixed) return absl::InvalidArgumentError(Cat(path, ": too few columns"));
  if (feature_names) feature_names->assign(columns.begin() + fixed, columns.end());
  std::vector<DatasetRow> rows;
  XXH3_state_t hash;
  XXH3_64bits_reset(&hash);
  bool ended = false;
  while (std::getline(in, line)) {
    if (line.starts_with("#end\t")) {
      std::string want = Cat("#end\trows=", rows.size(), "\txxh3=", XXH3_64bits_digest(&hash));
      if (line != want) return absl::DataLossError(Cat(path, ": checksum or row count mismatch"));
      ended = true;
      break;
    }
    std::string with_newline = line + "\n";
    XXH3_64bits_update(&hash, with_newline.data(), with_newline.size());
    DatasetRow r;
    std::vector<std::string_view> f;
    std::string_view sv(line);
    for (size_t pos = 0; pos <= sv.size();) {
      size_t tab = sv.find('\t', pos);
      if (tab == std::string_view::npos) tab = sv.size();
      f.push_back(sv.substr(pos, tab - pos));
      pos = tab + 1;
    }
    if (f.size() != columns.size())
      return absl::DataLossError(Cat(path, ":", rows.size() + 3, ": expected ", columns.size(), " columns"));
    std::from_chars(f[0].data(), f[0].data() + f[0].size(), r.seq);
    std::from_chars(f[1].data(), f[1].data() + f[1].size(), r.ts);
    r.user = f[2];
    r.item = f[3];
    r.kind = f[4];
    for (size_t i = 5; i < f.size(); ++i) {
      float v = 0;
      std::from_chars(f[i].data(), f[i].data() + f[i].size(), v);
      (i < fixed ? r.labels : r.features).push_back(v);
    }
    rows.push_back(std::move(r));
  }
  if (!ended) return absl::DataLossError(Cat(path, ": truncated (no #end line)"));
  return rows;
}

}  // namespace funnel::features
