#include "funnel/features/online_store.h"

#include <algorithm>
#include <future>
#include <limits>
#include <mutex>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "features/record_codec.h"
#include "funnel/core/logging.h"

namespace funnel::features {

namespace {

// Every fold record lives under this prefix; the meta record beside it (docs/formats/online-features.md).
constexpr std::string_view kRecordPrefix = "f";
constexpr std::string_view kMetaKey = "m/online";
// Version 2 added the newest folded time and the time-order flag, which decide whether the
// state may answer a read as of a time (docs/formats/online-features.md).
constexpr uint8_t kMetaVersion = 2;
constexpr uint8_t kMetaTimeOrdered = 1;

struct Meta {
  uint64_t layout = 0;
  uint64_t watermark = 0;
  int64_t newest_us = std::numeric_limits<int64_t>::min();
  bool time_ordered = true;
};

std::string MetaValue(const Meta& m) {
  std::string v;
  codec::PutU8(v, kMetaVersion);
  codec::PutRaw(v, m.layout);
  codec::PutRaw(v, m.watermark);
  codec::PutRaw(v, m.newest_us);
  codec::PutU8(v, m.time_ordered ? kMetaTimeOrdered : 0);
  return v;
}

// nullopt for a version-1 record (written before point-in-time reads).
StatusOr<std::optional<Meta>> ParseMeta(std::string_view value) {
  codec::Reader in(value);
  uint8_t version = 0, flags = 0;
  Meta m;
  if (in.Raw(&version) && version == 1) return std::nullopt;
  if (version != kMetaVersion || !in.Raw(&m.layout) || !in.Raw(&m.watermark) || !in.Raw(&m.newest_us) ||
      !in.Raw(&flags) || !in.done())
    return absl::DataLossError("online features: unreadable meta record (wrong version?)");
  m.time_ordered = (flags & kMetaTimeOrdered) != 0;
  return std::optional<Meta>(m);
}

// Whether a state that folded events up to `newest_us`, in time order when `time_ordered`,
// is the offline fold of everything before t: only then may it answer as of t. A read at t
// uses nothing stamped at or after t, so an event stamped exactly t already rules it out.
bool AnswersAsOf(bool time_ordered, int64_t newest_us, Timestamp t) {
  return time_ordered && t.micros() > newest_us;
}

// The parts of a stored event the fold reads (ids and context are not features).
struct FoldedEvent {
  Timestamp ts;
  uint64_t seq;
  UserIdx user;
  ItemIdx item;
  TypeIdx type;
  std::optional<double> value;
};

store::StoredEvent AsStored(const FoldedEvent& e) {
  store::StoredEvent s;
  s.ts = e.ts;
  s.seq = e.seq;
  s.user = e.user;
  s.item = e.item;
  s.type = e.type;
  s.value = e.value;
  return s;
}

}  // namespace

OnlineFeatures::~OnlineFeatures() = default;

StatusOr<std::unique_ptr<OnlineFeatures>> OnlineFeatures::Open(std::vector<FeatureSpec> specs,
                                                               const store::EventStore& store,
                                                               std::unique_ptr<store::KvStore> kv,
                                                               OnlineOpenReport* report) {
  std::unique_ptr<OnlineFeatures> o(new OnlineFeatures());
  o->specs_ = specs;
  o->store_ = &store;
  o->kv_ = std::move(kv);
  o->read_through_ = o->kv_->backend() == "redis";
  FUNNEL_ASSIGN_OR_RETURN(o->fold_, FeatureFold::Create(std::move(specs), &store));
  OnlineOpenReport local;
  OnlineOpenReport& rep = report ? *report : local;
  std::unique_lock lock(o->mu_);

  FUNNEL_ASSIGN_OR_RETURN(std::optional<std::string> meta_value, o->kv_->Get(kMetaKey));
  bool usable = false;
  if (meta_value) {
    FUNNEL_ASSIGN_OR_RETURN(std::optional<Meta> meta, ParseMeta(*meta_value));
    if (!meta) {
      // A version-1 record lacks what point-in-time reads need; the events are all in the store.
      spdlog::info("online features: state written by an older version; rebuilding from the event store");
    } else if (meta->layout != o->fold_->LayoutHash()) {
      spdlog::info("online features: feature definitions changed; rebuilding from the event store");
    } else if (meta->watermark > store.NextSeq()) {
      spdlog::warn("online features: state is ahead of the event store (another data dir?); rebuilding");
    } else {
      // A state folded out of time order is kept: recovery folds each event once either way,
      // and its reads are replayed from the event store (Compute).
      usable = true;
      o->watermark_ = meta->watermark;
      o->newest_us_ = meta->newest_us;
      o->time_ordered_ = meta->time_ordered;
      // Which items the restored state folded events of is not recorded: assume all of them.
      o->item_folded_.assign(store.NumItems(), 1);
    }
  }
  if (!usable) {
    FUNNEL_RETURN_IF_ERROR(o->Rebuild());
    rep.rebuilt = true;
    rep.caught_up = o->watermark_;
    return o;
  }

  EntityResolver ids{[&](std::string_view u) { return store.FindUser(u); },
                     [&](std::string_view i) { return store.FindItem(i); }};
  Status restore = absl::OkStatus();
  FUNNEL_RETURN_IF_ERROR(o->kv_->ScanPrefix(kRecordPrefix, [&](std::string_view key, std::string_view value) {
    restore = o->fold_->Restore(key.substr(kRecordPrefix.size()), value, ids);
    ++rep.restored;
    return restore.ok();
  }));
  FUNNEL_RETURN_IF_ERROR(restore);
  if (o->watermark_ < store.NextSeq()) {
    FUNNEL_RETURN_IF_ERROR(o->FoldStored(o->watermark_, store.NextSeq(), &rep.caught_up));
    FUNNEL_RETURN_IF_ERROR(o->Persist());
  }
  return o;
}

StatusOr<std::unique_ptr<OnlineFeatures>> OnlineFeatures::OpenReader(std::vector<FeatureSpec> specs,
                                                                     std::unique_ptr<store::KvStore> kv) {
  std::unique_ptr<OnlineFeatures> o(new OnlineFeatures());
  o->specs_ = specs;
  o->kv_ = std::move(kv);
  o->read_through_ = true;
  FUNNEL_ASSIGN_OR_RETURN(o->fold_, FeatureFold::CreateDetached(std::move(specs)));
  FUNNEL_ASSIGN_OR_RETURN(std::optional<std::string> meta_value, o->kv_->Get(kMetaKey));
  if (meta_value) {
    FUNNEL_ASSIGN_OR_RETURN(std::optional<Meta> meta, ParseMeta(*meta_value));
    if (!meta)
      return absl::FailedPreconditionError(
          "online features: the shared store was written by an older version; open its writer once to upgrade it");
    if (meta->layout != o->fold_->LayoutHash())
      return absl::FailedPreconditionError(
          "online features: the shared store was written under other feature definitions; "
          "use the writer's config");
    o->watermark_ = meta->watermark;
  }
  return o;
}

Status OnlineFeatures::Rebuild() {
  // Drop every record of the old layout, then fold the whole event store in time order: the
  // same state the offline builder reaches.
  store::KvBatch drop;
  FUNNEL_RETURN_IF_ERROR(kv_->ScanPrefix(kRecordPrefix, [&](std::string_view key, std::string_view) {
    drop.Delete(key);
    return true;
  }));
  if (!drop.empty()) FUNNEL_RETURN_IF_ERROR(kv_->Write(drop));
  FUNNEL_ASSIGN_OR_RETURN(fold_, FeatureFold::Create(specs_, store_));
  const uint64_t end = store_->NextSeq();
  newest_us_ = std::numeric_limits<int64_t>::min();
  time_ordered_ = true;
  item_folded_.clear();
  FUNNEL_RETURN_IF_ERROR(store_->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    if (e.seq < end) FoldOne(e, /*attached=*/false);
    return true;
  }));
  watermark_ = end;
  return Persist();
}

void OnlineFeatures::FoldOne(const store::StoredEvent& e, bool attached) {
  // Arrival order is the replay's (time, then seq) order as long as no event is older than
  // one folded before it; from the first that is, the state is no longer the offline fold.
  if (e.ts.micros() < newest_us_) time_ordered_ = false;
  newest_us_ = std::max(newest_us_, e.ts.micros());
  if (item_folded_.size() <= Raw(e.item)) item_folded_.resize(Raw(e.item) + 1, 0);
  item_folded_[Raw(e.item)] = 1;
  fold_->Apply(e);
  if (attached)
    for (StreamFold* f : attached_) f->Apply(e);
}

Status OnlineFeatures::FoldStored(uint64_t from_seq, uint64_t to_seq, uint64_t* folded) {
  // The event store is ordered by time, not arrival: collect the range, then fold it in arrival
  // order as it would have been folded live. Recovery only, so one scan is acceptable.
  std::vector<FoldedEvent> pending;
  FUNNEL_RETURN_IF_ERROR(store_->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    if (e.seq >= from_seq && e.seq < to_seq) pending.push_back({e.ts, e.seq, e.user, e.item, e.type, e.value});
    return true;
  }));
  std::sort(pending.begin(), pending.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  for (const FoldedEvent& e : pending) FoldOne(AsStored(e), /*attached=*/true);
  if (folded) *folded += pending.size();
  watermark_ = std::max(watermark_, to_seq);
  return absl::OkStatus();
}

Status OnlineFeatures::Persist() {
  store::KvBatch batch;
  fold_->DrainChanges([&](std::string_view k, std::string_view v) { batch.Put(Cat(kRecordPrefix, k), v); });
  batch.Put(kMetaKey, MetaValue({fold_->LayoutHash(), watermark_, newest_us_, time_ordered_}));
  FUNNEL_RETURN_IF_ERROR(kv_->Write(batch));
  // After the records: an attached fold's own watermark never runs ahead of what a restart
  // would have to refold, and it catches up by itself when behind.
  for (StreamFold* f : attached_) FUNNEL_RETURN_IF_ERROR(f->Persist());
  unpersisted_ = false;
  return absl::OkStatus();
}

void OnlineFeatures::Attach(StreamFold* fold) {
  std::unique_lock lock(mu_);
  attached_.push_back(fold);
}

struct OnlineFeatures::ResolvedBatch {
  uint64_t first_seq = 0;
  std::vector<FoldedEvent> events;  // the stored events, in arrival order (seq first_seq + k)
};

OnlineFeatures::ResolvedBatch OnlineFeatures::Resolve(std::span<const events::Event> batch,
                                                      const events::AppendResult& result) const {
  ResolvedBatch r;
  r.first_seq = result.first_seq;
  r.events.reserve(result.stored.size());
  // The event store reports the indexes it assigned; other sinks leave them to be looked up.
  const bool indexed = result.users.size() == result.stored.size() &&
                       result.items.size() == result.stored.size() &&
                       result.types.size() == result.stored.size();
  uint64_t seq = result.first_seq;
  for (size_t k = 0; k < result.stored.size(); ++k, ++seq) {
    const events::Event& e = batch[result.stored[k]];
    if (indexed) {
      r.events.push_back({e.ts, seq, result.users[k], result.items[k], result.types[k], e.value});
      continue;
    }
    std::optional<UserIdx> user = store_->FindUser(e.user);
    std::optional<ItemIdx> item = store_->FindItem(e.item);
    std::optional<TypeIdx> type = store_->FindType(e.type);
    FUNNEL_CHECK(user && item && type);  // the store just stored them
    r.events.push_back({e.ts, seq, *user, *item, *type, e.value});
  }
  return r;
}

Status OnlineFeatures::Apply(std::span<const events::Event> batch, const events::AppendResult& result) {
  if (store_ == nullptr) return absl::FailedPreconditionError("online features: a reader cannot apply events");
  if (result.stored.empty()) return absl::OkStatus();
  return ApplyResolved(Resolve(batch, result), /*persist=*/true);
}

Status OnlineFeatures::ApplyResolved(const ResolvedBatch& batch, bool persist) {
  if (batch.events.empty()) return absl::OkStatus();
  std::unique_lock lock(mu_);
  if (batch.first_seq > watermark_) {
    // Stored by a path that did not feed us (e.g. a bulk importer): fold them first.
    FUNNEL_RETURN_IF_ERROR(FoldStored(watermark_, batch.first_seq, nullptr));
  }
  for (const FoldedEvent& e : batch.events) {
    if (e.seq < watermark_) continue;  // already folded (a repeated call)
    FoldOne(AsStored(e), /*attached=*/true);
  }
  watermark_ = std::max(watermark_, batch.events.back().seq + 1);
  if (!persist) {
    unpersisted_ = true;
    return absl::OkStatus();
  }
  return Persist();
}

Status OnlineFeatures::PersistIfBehind() {
  std::unique_lock lock(mu_);
  return unpersisted_ ? Persist() : absl::OkStatus();
}

// Feeds the online features what the event store stored, synchronously or one batch behind
// on a background thread (FeedOptions). Thread-safety: one caller at a time, like an importer.
class OnlineFeatures::Feeder final : public events::RecordSink {
 public:
  Feeder(store::EventStore& store, OnlineFeatures& online, FeedOptions options)
      : store_(store), online_(online), options_(options) {}
  ~Feeder() override {
    // Also after a failed import: what was folded came from stored events, so it may be kept.
    if (Status s = Flush(); !s.ok()) spdlog::error("online features: {}", MessageOf(s));
  }

  StatusOr<events::AppendResult> Append(std::span<const events::Event> events) override {
    // With background feeding, this store write overlaps the previous batch's online write.
    FUNNEL_ASSIGN_OR_RETURN(events::AppendResult r, store_.Append(events));
    if (online_.store_ == nullptr) return absl::FailedPreconditionError("online features: a reader cannot apply events");
    if (r.stored.empty()) return r;
    ResolvedBatch batch = online_.Resolve(events, r);
    FUNNEL_RETURN_IF_ERROR(Wait());  // batches are folded in order
    folded_since_persist_ += batch.events.size();
    const bool persist = folded_since_persist_ >= options_.persist_every_events;
    if (persist) folded_since_persist_ = 0;
    if (!options_.background) {
      FUNNEL_RETURN_IF_ERROR(online_.ApplyResolved(batch, persist));
      return r;
    }
    pending_ = std::async(std::launch::async,
                          [this, b = std::move(batch), persist] { return online_.ApplyResolved(b, persist); });
    return r;
  }
  Status UpsertItems(std::span<const events::Item> items) override {
    FUNNEL_RETURN_IF_ERROR(Wait());
    // The online fold takes whole records: the merged ones, not the patches the import read.
    std::vector<events::Item> merged;
    FUNNEL_RETURN_IF_ERROR(store_.MergeItems(items, &merged));
    return online_.UpsertItems(merged);
  }
  Status UpsertUsers(std::span<const events::User> users) override {
    FUNNEL_RETURN_IF_ERROR(Wait());
    std::vector<events::User> merged;
    FUNNEL_RETURN_IF_ERROR(store_.MergeUsers(users, &merged));
    return online_.UpsertUsers(merged);
  }
  Status Flush() override {
    FUNNEL_RETURN_IF_ERROR(Wait());
    folded_since_persist_ = 0;
    return online_.PersistIfBehind();
  }

 private:
  Status Wait() {
    if (!pending_.valid()) return absl::OkStatus();
    return pending_.get();
  }

  store::EventStore& store_;
  OnlineFeatures& online_;
  const FeedOptions options_;
  std::future<Status> pending_;  // the background online write of the last batch
  uint64_t folded_since_persist_ = 0;
};

Status OnlineFeatures::UpsertItems(std::span<const events::Item> items) {
  if (store_ == nullptr) return absl::FailedPreconditionError("online features: a reader cannot apply items");
  std::unique_lock lock(mu_);
  for (const events::Item& it : items) {
    std::optional<ItemIdx> idx = store_->FindItem(it.item);
    if (!idx) continue;
    // The offline fold reads today's metadata for every past event of the item.
    const bool changed = fold_->UpsertItem(*idx, it);
    if (changed && Raw(*idx) < item_folded_.size() && item_folded_[Raw(*idx)]) time_ordered_ = false;
  }
  return Persist();
}

Status OnlineFeatures::UpsertUsers(std::span<const events::User> users) {
  if (store_ == nullptr) return absl::FailedPreconditionError("online features: a reader cannot apply users");
  std::unique_lock lock(mu_);
  for (const events::User& u : users)
    if (std::optional<UserIdx> idx = store_->FindUser(u.user)) fold_->UpsertUser(*idx, u);
  return Persist();
}

StatusOr<FeatureMatrix> OnlineFeatures::Compute(std::string_view user, std::span<const std::string> items,
                                                Timestamp t) const {
  if (read_through_) {
    bool behind = false;
    FUNNEL_ASSIGN_OR_RETURN(FeatureMatrix m, ComputeFromKv(user, items, t, &behind));
    if (!behind) return m;
    // The writer still can answer, from the event store; a reader cannot.
    if (store_ != nullptr) return ComputeAsOf(user, items, t);
    return absl::FailedPreconditionError(Cat(
        "online features: the shared state cannot answer as of ", FormatUtc(t),
        ": it holds events stamped at or after that time (or folded out of time order); "
        "a point-in-time read needs the event store (ask the writer)"));
  }
  {
    std::shared_lock lock(mu_);
    // Checked under the lock the read holds, so no event folds in between; an event stored
    // but not yet folded (a background feeder, another importer) could be older than t.
    if (AnswersAsOf(time_ordered_, newest_us_, t) && watermark_ == store_->NextSeq())
      return ComputeFromMemory(user, items, t);
  }
  return ComputeAsOf(user, items, t);
}

StatusOr<FeatureMatrix> OnlineFeatures::ComputeFolded(std::string_view user, std::span<const std::string> items,
                                                      Timestamp t) const {
  if (store_ == nullptr) return absl::FailedPreconditionError("online features: a reader holds no folded state");
  std::shared_lock lock(mu_);
  return ComputeFromMemory(user, items, t);
}

StatusOr<FeatureMatrix> OnlineFeatures::ComputeAsOf(std::string_view user, std::span<const std::string> items,
                                                    Timestamp t) const {
  // The offline fold up to t (what BuildDataset with until = t folds), of just the rows this
  // read needs. Exact because rows never read one another (FeatureFold::ApplyTo) and the
  // event store hands each row's events in the replay's (time, seq) order, from the full
  // replay and from a user's history alike. Item rows have no per-item index to replay from,
  // and the global row depends on every event: either means one scan of the events before t
  // (folding only the global row for the others); otherwise the user's history suffices.
  // Costs a fold creation (all item metadata) and that replay per read: a point-in-time read
  // is for history and for requests behind the stream, not the live path.
  FUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<FeatureFold> fold, FeatureFold::Create(specs_, store_));
  const std::optional<UserIdx> u = store_->FindUser(user);
  std::vector<ItemIdx> idx(items.size(), ItemIdx{UINT32_MAX});
  absl::flat_hash_set<uint32_t> wanted;
  for (size_t j = 0; j < items.size(); ++j)
    if (std::optional<ItemIdx> i = store_->FindItem(items[j])) {
      idx[j] = *i;
      wanted.insert(Raw(*i));
    }
  if (fold->HasGlobalState() || (fold->HasItemState() && !wanted.empty())) {
    FUNNEL_RETURN_IF_ERROR(store_->Replay(Timestamp::Min(), t, [&](const store::StoredEvent& e) {
      fold->ApplyTo(e, u && e.user == *u, wanted.contains(Raw(e.item)));
      return true;
    }));
  } else if (u) {
    FUNNEL_RETURN_IF_ERROR(store_->UserHistory(*u, Timestamp::Min(), t, [&](const store::HistoryEntry& h) {
      store::StoredEvent e;
      e.ts = h.ts;
      e.seq = h.seq;
      e.user = *u;
      e.item = h.item;
      e.type = h.type;
      e.value = h.value;
      fold->ApplyTo(e, /*user_rows=*/true, /*item_rows=*/false);
      return true;
    }));
  }
  FeatureMatrix m{items.size(), fold->names().size(), {}};
  m.values.resize(m.rows * m.cols);
  const UserIdx user_idx = u.value_or(UserIdx{UINT32_MAX});
  for (size_t j = 0; j < items.size(); ++j)
    fold->Compute(user_idx, idx[j], t, std::span<float>(m.values.data() + j * m.cols, m.cols));
  return m;
}

StatusOr<FeatureMatrix> OnlineFeatures::ComputeFromMemory(std::string_view user, std::span<const std::string> items,
                                                          Timestamp t) const {
  FeatureMatrix m{items.size(), fold_->names().size(), {}};
  m.values.resize(m.rows * m.cols);
  const UserIdx u = store_->FindUser(user).value_or(UserIdx{UINT32_MAX});
  for (size_t j = 0; j < items.size(); ++j) {
    const ItemIdx i = store_->FindItem(items[j]).value_or(ItemIdx{UINT32_MAX});
    fold_->Compute(u, i, t, std::span<float>(m.values.data() + j * m.cols, m.cols));
  }
  return m;
}

StatusOr<FeatureMatrix> OnlineFeatures::ComputeFromKv(std::string_view user, std::span<const std::string> items,
                                                      Timestamp t, bool* behind) const {
  // A request-local detached fold holds just the records this request reads, under local
  // indexes (the user is 0, item j is j), and evaluates them with the writer's code.
  FUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<FeatureFold> view, FeatureFold::CreateDetached(specs_));
  absl::flat_hash_map<std::string_view, uint32_t> item_index;
  for (size_t j = 0; j < items.size(); ++j) item_index.try_emplace(items[j], static_cast<uint32_t>(j));
  EntityResolver ids{
      [&](std::string_view u) -> std::optional<UserIdx> {
        if (u == user) return UserIdx{0};
        return std::nullopt;
      },
      [&](std::string_view i) -> std::optional<ItemIdx> {
        auto it = item_index.find(i);
        if (it == item_index.end()) return std::nullopt;
        return ItemIdx{it->second};
      }};
  auto prefixed = [](std::string_view k) { return Cat(kRecordPrefix, k); };
  auto load = [&](const std::vector<std::string>& keys) -> Status {
    FUNNEL_ASSIGN_OR_RETURN(auto values, kv_->MultiGet(keys));
    for (size_t k = 0; k < keys.size(); ++k)
      if (values[k]) FUNNEL_RETURN_IF_ERROR(view->Restore(std::string_view(keys[k]).substr(kRecordPrefix.size()), *values[k], ids));
    return absl::OkStatus();
  };
  std::vector<std::string> keys = {std::string(kMetaKey), prefixed(UserRecordKey(user)), prefixed(GlobalRecordKey())};
  for (const auto& [name, j] : item_index) keys.push_back(prefixed(ItemRecordKey(name)));
  FUNNEL_ASSIGN_OR_RETURN(auto values, kv_->MultiGet(keys));
  // The meta record is written in the same batch as the records; only a state that is the
  // offline fold of everything before t may answer.
  if (values[0]) {
    FUNNEL_ASSIGN_OR_RETURN(std::optional<Meta> meta, ParseMeta(*values[0]));
    if (!meta)
      return absl::FailedPreconditionError(
          "online features: the shared store was written by an older version; open its writer once to upgrade it");
    if (!AnswersAsOf(meta->time_ordered, meta->newest_us, t) ||
        (store_ != nullptr && meta->watermark != store_->NextSeq())) {
      *behind = true;
      return FeatureMatrix{};
    }
  }
  for (size_t k = 1; k < keys.size(); ++k)
    if (values[k]) FUNNEL_RETURN_IF_ERROR(view->Restore(std::string_view(keys[k]).substr(kRecordPrefix.size()), *values[k], ids));
  // The user x category / creator records depend on the items' metadata, known only now.
  std::vector<std::string> cross;
  for (const auto& [name, j] : item_index) view->CrossKeys(user, ItemIdx{j}, &cross);
  std::sort(cross.begin(), cross.end());
  cross.erase(std::unique(cross.begin(), cross.end()), cross.end());
  for (std::string& k : cross) k = prefixed(k);
  if (!cross.empty()) FUNNEL_RETURN_IF_ERROR(load(cross));

  FeatureMatrix m{items.size(), view->names().size(), {}};
  m.values.resize(m.rows * m.cols);
  for (size_t j = 0; j < items.size(); ++j)
    view->Compute(UserIdx{0}, ItemIdx{item_index.at(items[j])}, t, std::span<float>(m.values.data() + j * m.cols, m.cols));
  return m;
}

const std::vector<std::string>& OnlineFeatures::names() const { return fold_->names(); }

uint64_t OnlineFeatures::watermark() const {
  std::shared_lock lock(mu_);
  return watermark_;
}

size_t OnlineFeatures::StateBytes() const {
  std::shared_lock lock(mu_);
  return fold_->StateBytes();
}

std::string_view OnlineFeatures::backend() const { return kv_->backend(); }

std::unique_ptr<events::RecordSink> OnlineFeatures::FeedingSink(store::EventStore& store, OnlineFeatures& online,
                                                                FeedOptions options) {
  return std::make_unique<Feeder>(store, online, options);
}

}  // namespace funnel::features
