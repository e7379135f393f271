#include "funnel/features/dataset_builder.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "funnel/core/hash.h"
#include "funnel/features/feature_fold.h"

namespace funnel::features {

namespace {

constexpr const char* kLabelNames[] = {"label", "engaged", "liked", "shared", "skipped", "watch_seconds", "rating"};
constexpr size_t kLabels = std::size(kLabelNames);
enum LabelIndex { kLabel, kEngaged, kLiked, kShared, kSkipped, kWatchSeconds, kRating };

struct Row {
  uint64_t seq;
  int64_t ts_us;
  UserIdx user;
  ItemIdx item;
  const char* kind;
  std::array<float, kLabels> labels;
  std::vector<float> x;
};

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

void AppendFloat(std::string& out, double v) {
  char buf[32];
  auto r = std::isnan(v) ? std::to_chars(buf, buf + sizeof buf, std::numeric_limits<float>::quiet_NaN())
                         : std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
  out.append(buf, r.ptr);
}

class Writer {
 public:
  Status Open(const std::string& path, const std::vector<std::string>& names) {
    tmp_path_ = path + ".tmp";
    path_ = path;
    file_ = std::fopen(tmp_path_.c_str(), "we");
    if (file_ == nullptr) return absl::InvalidArgumentError(Cat("cannot write ", tmp_path_));
    std::string header = "#funnel-dataset\t1\n#columns\tseq:u64\tts:f64\tuser:str\titem:str\tkind:str";
    for (const char* l : kLabelNames) header += Cat("\t", l, ":f32");
    for (const auto& n : names) header += Cat("\t", n, ":f32");
    header += "\n";
    std::fputs(header.c_str(), file_);
    XXH3_64bits_reset(&hash_);
    return absl::OkStatus();
  }
  void Write(const Row& r, const store::EventStore& store) {
    line_.clear();
    line_ += Cat(r.seq, "\t");
    AppendFloat64(static_cast<double>(r.ts_us) / 1e6);
    line_ += Cat("\t", store.UserName(r.user), "\t", store.ItemName(r.item), "\t", r.kind);
    for (float l : r.labels) {
      line_ += '\t';
      AppendFloat(line_, l);
    }
    for (float v : r.x) {
      line_ += '\t';
      AppendFloat(line_, v);
    }
    line_ += '\n';
    XXH3_64bits_update(&hash_, line_.data(), line_.size());
    std::fwrite(line_.data(), 1, line_.size(), file_);
    ++rows_;
  }
  Status Close() {
    std::string end = Cat("#end\trows=", rows_, "\txxh3=", XXH3_64bits_digest(&hash_), "\n");
    std::fputs(end.c_str(), file_);
    bool ok = std::fflush(file_) == 0 && std::ferror(file_) == 0;
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    if (!ok || std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
      return absl::InternalError(Cat("cannot write ", path_));
    return absl::OkStatus();
  }
  ~Writer() {
    if (file_) {
      std::fclose(file_);
      std::remove(tmp_path_.c_str());
    }
  }

 private:
  void AppendFloat64(double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    line_.append(buf, r.ptr);
  }
  std::FILE* file_ = nullptr;
  std::string path_, tmp_path_, line_;
  XXH3_state_t hash_;
  uint64_t rows_ = 0;
};

}  // namespace

StatusOr<DatasetSummary> BuildDataset(const store::EventStore& store, std::vector<FeatureSpec> specs,
                                      const EventsConfig& events, const DatasetOptions& options,
                                      const std::string& out_path) {
  auto start = std::chrono::steady_clock::now();
  FUNNEL_ASSIGN_OR_RETURN(auto fold, FeatureFold::Create(std::move(specs), &store));
  const size_t nf = fold->names().size();
  Writer writer;
  FUNNEL_RETURN_IF_ERROR(writer.Open(out_path, fold->names()));

  // Per event type: how it acts on rows. Resolved lazily, as the store's type ids are dense.
  enum class Role : uint8_t { kUnknown, kNone, kImpression, kPositive, kRating, kFeedbackOnly };
  std::vector<Role> roles;
  std::vector<std::string> type_names;
  auto role_of = [&](TypeIdx t) {
    if (roles.size() <= Raw(t)) {
      roles.resize(Raw(t) + 1, Role::kUnknown);
      type_names.resize(Raw(t) + 1);
    }
    Role& r = roles[Raw(t)];
    if (r == Role::kUnknown) {
      std::string name = store.TypeName(t);
      type_names[Raw(t)] = name;
      r = name == "impression" ? Role::kImpression
          : name == "rating"   ? Role::kRating
          : events.IsPositiveType(name) ? Role::kPositive
          : (name == "skip" || name == "dislike") ? Role::kFeedbackOnly
                                                  : Role::kNone;
    }
    return r;
  };

  DatasetSummary summary;
  summary.features = nf;
  std::deque<Row> pending;  // rows awaiting their label horizon, in creation order
  uint64_t pending_base = 0;  // absolute index of pending.front()
  absl::flat_hash_map<std::string, uint64_t> open_impressions;  // user|item|request -> row index
  std::vector<ItemIdx> seen_items;
  std::vector<bool> item_seen;
  SplitMix64 rng{options.seed};
  const int64_t horizon_us = static_cast<int64_t>(options.label_horizon_seconds * 1e6);
  std::string key;

  auto impression_key = [&](const store::StoredEvent& e) -> const std::string& {
    key.clear();
    key += Cat(Raw(e.user), "|", Raw(e.item), "|", e.request_id);
    return key;
  };
  auto flush_until = [&](int64_t now_us) {
    while (!pending.empty() && pending.front().ts_us + horizon_us <= now_us) {
      writer.Write(pending.front(), store);
      pending.pop_front();
      ++pending_base;
    }
  };
  auto add_row = [&](const store::StoredEvent& e, ItemIdx item, const char* kind) -> Row& {
    Row r{e.seq, e.ts.micros(), e.user, item, kind, {}, std::vector<float>(nf)};
    r.labels.fill(0);
    r.labels[kRating] = std::numeric_limits<float>::quiet_NaN();
    fold->Compute(e.user, item, e.ts, r.x);  // before the event is applied: no leakage
    pending.push_back(std::move(r));
    ++summary.rows;
    return pending.back();
  };

  Status replay = store.Replay(Timestamp::Min(), options.until, [&](const store::StoredEvent& e) {
    ++summary.events;
    flush_until(e.ts.micros());
    Role role = role_of(e.type);
    const std::string& type = type_names[Raw(e.type)];
    bool answered = false;
    if (!e.request_id.empty() && role != Role::kImpression && role != Role::kNone) {
      auto it = open_impressions.find(impression_key(e));
      if (it != open_impressions.end() && it->second >= pending_base) {
        Row& r = pending[it->second - pending_base];
        answered = true;
        if (role == Role::kPositive || role == Role::kRating) r.labels[kEngaged] = r.labels[kLabel] = 1;
        if (type == "like") r.labels[kLiked] = 1;
        if (type == "share") r.labels[kShared] = 1;
        if (type == "skip") r.labels[kSkipped] = 1;
        if ((type == "watch" || type == "view") && e.value) r.labels[kWatchSeconds] += static_cast<float>(*e.value);
        if (role == Role::kRating && e.value) r.labels[kRating] = static_cast<float>(*e.value);
      }
    }
    if (role == Role::kImpression) {
      uint64_t index = pending_base + pending.size();
      add_row(e, e.item, "impression");
      ++summary.impression_rows;
      if (!e.request_id.empty()) open_impressions[impression_key(e)] = index;
    } else if (!answered && (role == Role::kPositive || role == Role::kRating)) {
      Row& r = add_row(e, e.item, "engagement");
      ++summary.engagement_rows;
      bool positive = role == Role::kPositive ||
                      (e.value && *e.value >= events.rating_positive_threshold);
      r.labels[kLabel] = r.labels[kEngaged] = positive ? 1 : 0;
      if (role == Role::kRating && e.value) r.labels[kRating] = static_cast<float>(*e.value);
      if (type == "like") r.labels[kLiked] = 1;
      if (type == "share") r.labels[kShared] = 1;
      if (positive && !seen_items.empty()) {
        for (int k = 0; k < options.negatives_per_positive; ++k) {
          ItemIdx neg = seen_items[rng.Next() % seen_items.size()];
          if (neg == e.item) continue;  // a negative never names the positive item
          add_row(e, neg, "negative");
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
  FUNNEL_RETURN_IF_ERROR(writer.Close());
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
