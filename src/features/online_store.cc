#include "funnel/features/online_store.h"

#include <algorithm>
#include <future>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "features/record_codec.h"
#include "funnel/core/logging.h"

namespace funnel::features {

namespace {

// Every fold record lives under this prefix; the meta record beside it (docs/formats/online-features.md).
constexpr std::string_view kRecordPrefix = "f";
constexpr std::string_view kMetaKey = "m/online";
constexpr uint8_t kMetaVersion = 1;

std::string MetaValue(uint64_t layout, uint64_t watermark) {
  std::string v;
  codec::PutU8(v, kMetaVersion);
  codec::PutRaw(v, layout);
  codec::PutRaw(v, watermark);
  return v;
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

  FUNNEL_ASSIGN_OR_RETURN(std::optional<std::string> meta, o->kv_->Get(kMetaKey));
  bool usable = false;
  if (meta) {
    codec::Reader in(*meta);
    uint8_t version = 0;
    uint64_t layout = 0, watermark = 0;
    if (!in.Raw(&version) || version != kMetaVersion || !in.Raw(&layout) || !in.Raw(&watermark) || !in.done())
      return absl::DataLossError("online features: unreadable meta record (wrong version?)");
    if (layout != o->fold_->LayoutHash()) {
      spdlog::info("online features: feature definitions changed; rebuilding from the event store");
    } else if (watermark > store.NextSeq()) {
      spdlog::warn("online features: state is ahead of the event store (another data dir?); rebuilding");
    } else {
      usable = true;
      o->watermark_ = watermark;
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
  FUNNEL_ASSIGN_OR_RETURN(std::optional<std::string> meta, o->kv_->Get(kMetaKey));
  if (meta) {
    codec::Reader in(*meta);
    uint8_t version = 0;
    uint64_t layout = 0;
    if (!in.Raw(&version) || version != kMetaVersion || !in.Raw(&layout) || !in.Raw(&o->watermark_))
      return absl::DataLossError("online features: unreadable meta record (wrong version?)");
    if (layout != o->fold_->LayoutHash())
      return absl::FailedPreconditionError(
          "online features: the shared store was written under other feature definitions; "
          "use the writer's config");
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
  FUNNEL_RETURN_IF_ERROR(store_->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    if (e.seq < end) fold_->Apply(e);
    return true;
  }));
  watermark_ = end;
  return Persist();
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
  for (const FoldedEvent& e : pending) {
    const store::StoredEvent stored = AsStored(e);
    fold_->Apply(stored);
    for (StreamFold* f : attached_) f->Apply(stored);
  }
  if (folded) *folded += pending.size();
  watermark_ = std::max(watermark_, to_seq);
  return absl::OkStatus();
}

Status OnlineFeatures::Persist() {
  store::KvBatch batch;
  fold_->DrainChanges([&](std::string_view k, std::string_view v) { batch.Put(Cat(kRecordPrefix, k), v); });
  batch.Put(kMetaKey, MetaValue(fold_->LayoutHash(), watermark_));
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
    const store::StoredEvent stored = AsStored(e);
    fold_->Apply(stored);
    for (StreamFold* f : attached_) f->Apply(stored);
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
    FUNNEL_RETURN_IF_ERROR(store_.UpsertItems(items));
    return online_.UpsertItems(items);
  }
  Status UpsertUsers(std::span<const events::User> users) override {
    FUNNEL_RETURN_IF_ERROR(Wait());
    FUNNEL_RETURN_IF_ERROR(store_.UpsertUsers(users));
    return online_.UpsertUsers(users);
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
  for (const events::Item& it : items)
    if (std::optional<ItemIdx> idx = store_->FindItem(it.item)) fold_->UpsertItem(*idx, it);
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
  return read_through_ ? ComputeFromKv(user, items, t) : ComputeFromMemory(user, items, t);
}

StatusOr<FeatureMatrix> OnlineFeatures::ComputeFromMemory(std::string_view user, std::span<const std::string> items,
                                                          Timestamp t) const {
  std::shared_lock lock(mu_);
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
                                                      Timestamp t) const {
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
  std::vector<std::string> keys = {prefixed(UserRecordKey(user)), prefixed(GlobalRecordKey())};
  for (const auto& [name, j] : item_index) keys.push_back(prefixed(ItemRecordKey(name)));
  FUNNEL_RETURN_IF_ERROR(load(keys));
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
