// EventStore on RocksDB. One column family per kind of record (docs/formats/event-store.md).
// A single writer mutex serializes appends so the dictionaries, the sequence counter and the
// stats record can be updated in the same atomic WriteBatch as the events themselves.
#include <algorithm>
#include <array>
#include <cstring>
#include <future>
#include <filesystem>
#include <mutex>
#include <shared_mutex>

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/write_batch.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "funnel/store/event_store.h"
#include "store/encoding.h"
#include "store/key_filter.h"

namespace funnel::store {

namespace enc = encoding;

namespace {

constexpr char kUserDict = 'u';
constexpr char kItemDict = 'i';
constexpr char kTypeDict = 't';
constexpr char kStatsKey[] = "stats";
constexpr uint32_t kStatsVersion = 1;

enum Cf : size_t { kDefault, kEvents, kHistory, kDedupe, kDict, kItems, kUsers, kNumCf };
const char* const kCfNames[kNumCf] = {"default", "events", "history", "dedupe",
                                      "dict",    "items",  "users"};

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(Cat(what, ": ", s.ToString()));
}

// Counters kept in one record, rewritten in every batch so they never disagree with the data.
struct Counters {
  uint64_t next_seq = 0;
  uint64_t events = 0;
  int64_t min_ts = 0, max_ts = 0;  // valid when events > 0
  uint64_t items_with_metadata = 0;
  uint64_t users_with_attributes = 0;
  std::vector<uint64_t> by_type;

  std::string Encode() const {
    std::string out;
    enc::PutBE32(out, kStatsVersion);
    for (uint64_t v : {next_seq, events, static_cast<uint64_t>(min_ts),
                       static_cast<uint64_t>(max_ts), items_with_metadata, users_with_attributes})
      enc::PutBE64(out, v);
    enc::PutBE32(out, static_cast<uint32_t>(by_type.size()));
    for (uint64_t c : by_type) enc::PutBE64(out, c);
    return out;
  }
  bool Decode(std::string_view in) {
    if (in.size() < 4 + 6 * 8 + 4 || enc::GetBE32(in.data()) != kStatsVersion) return false;
    const char* p = in.data() + 4;
    uint64_t f[6];
    for (auto& v : f) {
      v = enc::GetBE64(p);
      p += 8;
    }
    next_seq = f[0];
    events = f[1];
    min_ts = static_cast<int64_t>(f[2]);
    max_ts = static_cast<int64_t>(f[3]);
    items_with_metadata = f[4];
    users_with_attributes = f[5];
    uint32_t n = enc::GetBE32(p);
    p += 4;
    if (in.size() != static_cast<size_t>(p - in.data()) + size_t{n} * 8) return false;
    by_type.resize(n);
    for (auto& c : by_type) {
      c = enc::GetBE64(p);
      p += 8;
    }
    return true;
  }
};

// The rows of one column family within a batch. They are sorted before entering the WriteBatch
// because a memtable skip list inserts a run of ascending keys by reusing the previous search
// path, instead of a full descent with a cache miss per level for each random key.
class SortedRows {
 public:
  void Add(std::string_view key, std::string_view value) {
    offsets_.push_back({Word(key, 0), Word(key, 8), bytes_.size(), static_cast<uint32_t>(key.size()),
                        static_cast<uint32_t>(value.size())});
    bytes_.append(key);
    bytes_.append(value);
  }
  void Sort() {
    // Comparisons nearly always end within the first 16 bytes, kept in the row as two integers:
    // no memcmp and no cache miss into bytes_ (a history key's first 8 bytes, user and the
    // high half of the time, are shared by a user's events within an hour).
    auto less = [this](const Row& a, const Row& b) {
      if (a.w0 != b.w0) return a.w0 < b.w0;
      if (a.w1 != b.w1) return a.w1 < b.w1;
      return std::string_view(bytes_.data() + a.pos, a.key_len) <
             std::string_view(bytes_.data() + b.pos, b.key_len);
    };
    // Most batches arrive in key order already (events by time): skip the sort then.
    if (!std::is_sorted(offsets_.begin(), offsets_.end(), less))
      std::sort(offsets_.begin(), offsets_.end(), less);
  }
  void Reserve(size_t rows, size_t bytes) {
    offsets_.reserve(rows);
    bytes_.reserve(bytes);
  }
  template <typename Fn>  // fn(rocksdb::Slice key, rocksdb::Slice value)
  void ForEach(Fn&& fn) const {
    // After a sort the rows sit at random places in bytes_: fetching a few rows ahead hides
    // the cache misses the writer's key comparisons would otherwise wait on.
    constexpr size_t kAhead = 8;
    for (size_t j = 0; j < offsets_.size(); ++j) {
      if (j + kAhead < offsets_.size()) __builtin_prefetch(bytes_.data() + offsets_[j + kAhead].pos);
      const Row& r = offsets_[j];
      fn(rocksdb::Slice(bytes_.data() + r.pos, r.key_len),
         rocksdb::Slice(bytes_.data() + r.pos + r.key_len, r.value_len));
    }
  }
  bool empty() const { return offsets_.empty(); }
  size_t size() const { return offsets_.size(); }

 private:
  // Bytes [at, at + 8) of a key as a big-endian integer, zero-padded: same order as memcmp
  // whenever the words differ.
  static uint64_t Word(std::string_view key, size_t at) {
    unsigned char buf[8] = {0};
    if (key.size() > at) std::memcpy(buf, key.data() + at, std::min<size_t>(8, key.size() - at));
    return enc::GetBE64(reinterpret_cast<const char*>(buf));
  }

  struct Row {
    uint64_t w0, w1;  // key bytes 0-7 and 8-15
    size_t pos;
    uint32_t key_len, value_len;
  };
  std::string bytes_;
  std::vector<Row> offsets_;
};

using BatchRows = std::array<SortedRows, kNumCf>;

constexpr size_t kKeyBytes = events::Event::kDedupeKeyBytes;
struct Key {
  char bytes[kKeyBytes];
  bool operator==(const Key& o) const { return std::memcmp(bytes, o.bytes, kKeyBytes) == 0; }
};

// Batches with at least this many new events take the SST ingestion path.
constexpr uint64_t kBulkThreshold = 5000;

class RocksEventStore final : public EventStore {
 public:
  ~RocksEventStore() override {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    db_.reset();
  }

  static StatusOr<std::unique_ptr<EventStore>> Open(const EventStoreOptions& options) {
    auto store = std::unique_ptr<RocksEventStore>(new RocksEventStore(options));
    FUNNEL_RETURN_IF_ERROR(store->OpenDb());
    FUNNEL_RETURN_IF_ERROR(store->LoadState());
    return std::unique_ptr<EventStore>(std::move(store));
  }

  StatusOr<AppendResult> Append(std::span<const events::Event> batch) override {
    if (options_.read_only) return absl::FailedPreconditionError("event store is read-only");
    std::lock_guard write_lock(write_mu_);
    AppendResult result;
    result.first_seq = counters_.next_seq;
    const size_t n = batch.size();

    // The dedupe keys, and the batch in key order: repeats within the batch are then
    // neighbours, and both the lookups and the dedupe rows want key order.
    std::vector<Key> keys(n);
    for (size_t i = 0; i < n; ++i) batch[i].DedupeKeyTo(keys[i].bytes);
    std::vector<uint32_t> by_key = SortByKey(keys);
    std::vector<uint8_t> skip(n, 0);  // skip[i]: event i repeats an earlier one or is stored
    std::vector<uint32_t> firsts;     // first occurrences, in key order
    firsts.reserve(n);
    for (size_t j = 0; j < n; ++j) {
      uint32_t i = by_key[j];
      // Equal keys are ordered by batch position, so the earliest one comes first.
      if (j > 0 && keys[i] == keys[by_key[j - 1]]) skip[i] = 1;
      else firsts.push_back(i);
    }
    FUNNEL_RETURN_IF_ERROR(MarkStored(keys, firsts, &skip));

    const size_t users_before = users_.size(), items_before = items_.size(),
                 types_before = types_.size();
    Counters next = counters_;
    std::vector<uint64_t> seq_of(n);
    std::string value;
    char key[20];
    BatchRows rows;
    rows[kEvents].Reserve(n, n * 64);
    rows[kHistory].Reserve(n, n * 40);
    rows[kDedupe].Reserve(n, n * 24);
    result.stored.reserve(n);
    result.users.reserve(n);
    result.items.reserve(n);
    result.types.reserve(n);
    {
      std::unique_lock dict_lock(dict_mu_);
      Interner users(users_, kUserDict, rows[kDict]), items(items_, kItemDict, rows[kDict]),
          types(types_, kTypeDict, rows[kDict]);
      for (size_t i = 0; i < n; ++i) {
        const events::Event& e = batch[i];
        if (skip[i]) {
          ++result.duplicates;
          continue;
        }
        UserIdx user{users.Intern(e.user)};
        ItemIdx item{items.Intern(e.item)};
        TypeIdx type{static_cast<uint16_t>(types.Intern(e.type))};
        if (types_.size() > 65535) {
          RollbackDicts(users_before, items_before, types_before);
          return absl::ResourceExhaustedError("more than 65535 distinct event types");
        }
        uint64_t seq = next.next_seq++;
        seq_of[i] = seq;
        enc::EncodeEventValue({user, item, type, e.value, e.id, e.request_id, e.context}, value);
        enc::EventKeyTo(key, e.ts, seq);
        rows[kEvents].Add({key, enc::kEventKeyBytes}, value);
        enc::EncodeHistoryValue({item, type, e.value}, value);
        enc::HistoryKeyTo(key, user, e.ts, seq);
        rows[kHistory].Add({key, enc::kHistoryKeyBytes}, value);

        if (next.by_type.size() <= Raw(type)) next.by_type.resize(Raw(type) + 1);
        ++next.by_type[Raw(type)];
        if (next.events == 0 || e.ts.micros() < next.min_ts) next.min_ts = e.ts.micros();
        if (next.events == 0 || e.ts.micros() > next.max_ts) next.max_ts = e.ts.micros();
        ++next.events;
        ++result.accepted;
        result.stored.push_back(static_cast<uint32_t>(i));
        result.users.push_back(user);
        result.items.push_back(item);
        result.types.push_back(type);
      }
    }
    if (result.accepted == 0) return result;
    for (uint32_t i : firsts) {  // key order: the dedupe rows need no sort
      if (skip[i]) continue;
      enc::PutBE64To(key, seq_of[i]);
      rows[kDedupe].Add({keys[i].bytes, kKeyBytes}, {key, 8});
      // Before the commit: should it fail after all, a key remembered in vain only costs a
      // lookup, while a key forgotten after a write that did land could be stored twice.
      if (fresh_at_open_) written_keys_.Add(keys[i].bytes);
    }
    if (fresh_at_open_ && written_keys_.size() > kMaxFilterKeys) {
      // The filter grows with the keys (~2.5 bytes each): past this, a long-lived writer
      // (an ingest server) goes back to looking every key up, which is always correct.
      fresh_at_open_ = false;
      written_keys_ = KeyFilter();
    }
    rows[kDefault].Add(kStatsKey, next.Encode());
    Status s = Commit(rows, result.accepted >= kBulkThreshold);
    if (!s.ok()) {
      std::unique_lock dict_lock(dict_mu_);
      RollbackDicts(users_before, items_before, types_before);
      return s;
    }
    std::lock_guard stats_lock(stats_mu_);
    counters_ = std::move(next);
    return result;
  }

  Status UpsertItems(std::span<const events::Item> items) override { return MergeItems(items, nullptr); }
  Status UpsertUsers(std::span<const events::User> users) override { return MergeUsers(users, nullptr); }

  Status MergeItems(std::span<const events::Item> items, std::vector<events::Item>* merged) override {
    return UpsertRecords(
        items, kItemDict, kItems, &Counters::items_with_metadata, merged,
        &events::Item::item,
        [](std::string_view in, events::Item* it) { return enc::DecodeItem(in, it); },
        [](const events::Item& it, std::string& out) { enc::EncodeItem(it, out); });
  }

  Status MergeUsers(std::span<const events::User> users, std::vector<events::User>* merged) override {
    return UpsertRecords(
        users, kUserDict, kUsers, &Counters::users_with_attributes, merged,
        &events::User::user,
        [](std::string_view in, events::User* u) {
          u->attributes.assign(in);
          return true;
        },
        [](const events::User& u, std::string& out) { out = u.attributes; });
  }

  Status Replay(Timestamp from, Timestamp to, const EventCallback& fn) const override {
    if (to <= from) return absl::OkStatus();
    std::string lower = enc::EventKey(from, 0), upper = enc::EventKey(to, 0);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    ro.readahead_size = 2 << 20;
    ro.fill_cache = false;  // a full replay would evict the hot working set
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kEvents]));
    StoredEvent e;
    enc::EventValue v;
    for (it->Seek(lower); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      if (k.size() != 16 || !enc::DecodeEventValue(it->value().ToStringView(), &v))
        return absl::DataLossError("event store: undecodable event record");
      e.ts = enc::TimeFromBits(enc::GetBE64(k.data()));
      e.seq = enc::GetBE64(k.data() + 8);
      e.user = v.user;
      e.item = v.item;
      e.type = v.type;
      e.value = v.value;
      e.id = v.id;
      e.request_id = v.request_id;
      e.context = v.context;
      if (!fn(e)) return absl::OkStatus();
    }
    return FromRocks(it->status(), "event store replay");
  }

  Status UserHistory(UserIdx user, Timestamp from, Timestamp to,
                     const HistoryCallback& fn) const override {
    if (to <= from) return absl::OkStatus();
    std::string lower = enc::HistoryKey(user, from, 0), upper = enc::HistoryKey(user, to, 0);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kHistory]));
    HistoryEntry h;
    enc::HistoryValue v;
    for (it->Seek(lower); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      if (k.size() != 20 || !enc::DecodeHistoryValue(it->value().ToStringView(), &v))
        return absl::DataLossError("event store: undecodable history record");
      h.ts = enc::TimeFromBits(enc::GetBE64(k.data() + 4));
      h.seq = enc::GetBE64(k.data() + 12);
      h.item = v.item;
      h.type = v.type;
      h.value = v.value;
      if (!fn(h)) return absl::OkStatus();
    }
    return FromRocks(it->status(), "event store history");
  }

  std::optional<UserIdx> FindUser(std::string_view id) const override {
    std::shared_lock l(dict_mu_);
    auto i = users_.Find(id);
    return i ? std::optional(UserIdx{*i}) : std::nullopt;
  }
  std::optional<ItemIdx> FindItem(std::string_view id) const override {
    std::shared_lock l(dict_mu_);
    auto i = items_.Find(id);
    return i ? std::optional(ItemIdx{*i}) : std::nullopt;
  }
  std::optional<TypeIdx> FindType(std::string_view type) const override {
    std::shared_lock l(dict_mu_);
    auto i = types_.Find(type);
    return i ? std::optional(TypeIdx{static_cast<uint16_t>(*i)}) : std::nullopt;
  }
  std::string UserName(UserIdx u) const override { return NameOf(users_, Raw(u)); }
  std::string ItemName(ItemIdx i) const override { return NameOf(items_, Raw(i)); }
  std::string TypeName(TypeIdx t) const override { return NameOf(types_, Raw(t)); }
  uint32_t NumUsers() const override { return SizeOf(users_); }
  uint32_t NumItems() const override { return SizeOf(items_); }
  uint32_t NumTypes() const override { return SizeOf(types_); }

  StatusOr<std::optional<events::Item>> GetItem(ItemIdx item) const override {
    std::string value;
    std::string key;
    enc::PutBE32(key, Raw(item));
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[kItems], key, &value);
    if (s.IsNotFound()) return std::optional<events::Item>();
    FUNNEL_RETURN_IF_ERROR(FromRocks(s, "event store item read"));
    events::Item out;
    if (!enc::DecodeItem(value, &out)) return absl::DataLossError("undecodable item record");
    out.item = ItemName(item);
    return std::optional(std::move(out));
  }

  StatusOr<std::optional<events::User>> GetUser(UserIdx user) const override {
    std::string value;
    std::string key;
    enc::PutBE32(key, Raw(user));
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[kUsers], key, &value);
    if (s.IsNotFound()) return std::optional<events::User>();
    FUNNEL_RETURN_IF_ERROR(FromRocks(s, "event store user read"));
    return std::optional(events::User{UserName(user), std::move(value)});
  }

  Status ForEachItem(const std::function<bool(ItemIdx, const events::Item&)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kItems]));
    events::Item item;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().size() != 4 || !enc::DecodeItem(it->value().ToStringView(), &item))
        return absl::DataLossError("undecodable item record");
      ItemIdx idx{enc::GetBE32(it->key().data())};
      item.item = ItemName(idx);
      if (!fn(idx, item)) return absl::OkStatus();
    }
    return FromRocks(it->status(), "event store item scan");
  }

  Status ForEachUser(const std::function<bool(UserIdx, const events::User&)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kUsers]));
    events::User user;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().size() != 4) return absl::DataLossError("undecodable user record");
      UserIdx idx{enc::GetBE32(it->key().data())};
      user.user = UserName(idx);
      user.attributes.assign(it->value().data(), it->value().size());
      if (!fn(idx, user)) return absl::OkStatus();
    }
    return FromRocks(it->status(), "event store user scan");
  }

  StatusOr<bool> Contains(const events::Event& event) const override {
    std::string value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), handles_[kDedupe], event.DedupeKey(), &value);
    if (s.IsNotFound()) return false;
    FUNNEL_RETURN_IF_ERROR(FromRocks(s, "event store lookup"));
    return true;
  }

  uint64_t NextSeq() const override {
    std::lock_guard l(stats_mu_);
    return counters_.next_seq;
  }

  std::optional<Timestamp> NewestEventTime() const override {
    std::lock_guard l(stats_mu_);
    if (counters_.events == 0) return std::nullopt;
    return Timestamp::FromMicros(counters_.max_ts);
  }

  StoreStats Stats() const override {
    StoreStats st;
    Counters c;
    {
      std::lock_guard l(stats_mu_);
      c = counters_;
    }
    st.events = c.events;
    for (size_t t = 0; t < c.by_type.size(); ++t)
      if (c.by_type[t] > 0) st.events_by_type.emplace_back(TypeName(TypeIdx{static_cast<uint16_t>(t)}), c.by_type[t]);
    std::sort(st.events_by_type.begin(), st.events_by_type.end(),
              [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
    st.users = NumUsers();
    st.items = NumItems();
    st.items_with_metadata = c.items_with_metadata;
    st.users_with_attributes = c.users_with_attributes;
    if (c.events > 0) {
      st.first_ts = Timestamp::FromMicros(c.min_ts);
      st.last_ts = Timestamp::FromMicros(c.max_ts);
    }
    std::error_code ec;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(options_.path, ec))
      if (entry.is_regular_file(ec)) st.disk_bytes += entry.file_size(ec);
    return st;
  }

 private:
  explicit RocksEventStore(const EventStoreOptions& options) : options_(options) {}

  rocksdb::WriteOptions WriteOpts() const {
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    return wo;
  }

  Status OpenDb() {
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = options_.create_if_missing;
    db_options.create_missing_column_families = true;
    db_options.max_background_jobs = 2;
    db_options.bytes_per_sync = 1 << 20;

    auto cache = rocksdb::NewLRUCache(size_t(std::max(8, options_.block_cache_mb)) << 20);
    auto table_factory = [&](size_t cf) {
      rocksdb::BlockBasedTableOptions table;
      table.block_cache = cache;
      // Bloom filters only where reads are point lookups; events and history are read by
      // range scans and the dictionary by one scan at open, which filters never help.
      if (cf == kDedupe || cf == kItems || cf == kUsers || cf == kDefault)
        table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      // A hash index inside each data block turns the dedupe lookup's binary search over
      // the block into one probe (a re-import looks up every key and finds it).
      if (cf == kDedupe)
        table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
      return std::shared_ptr<rocksdb::TableFactory>(rocksdb::NewBlockBasedTableFactory(table));
    };
    rocksdb::ColumnFamilyOptions base;
    base.compression = rocksdb::kLZ4Compression;
    base.bottommost_compression = rocksdb::kZSTD;
    // Small memtables stay cache-resident, which matters more for insert speed than the
    // extra flushes they cost.
    base.write_buffer_size = 16 << 20;
    base.max_write_buffer_number = 4;
    // Bulk imports add one L0 file per batch: merging them eight at a time rewrites less than
    // the default four.
    base.level0_file_num_compaction_trigger = 8;
    base.level0_slowdown_writes_trigger = 24;
    base.level0_stop_writes_trigger = 40;

    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (size_t cf = 0; cf < kNumCf; ++cf) {
      rocksdb::ColumnFamilyOptions o = base;
      o.table_factory = table_factory(cf);
      // Memtables (default skip lists) only see small online batches; bulk imports bypass them.
      if (cf == kDedupe) {
        o.compression = rocksdb::kNoCompression;  // hashes do not compress
        o.bottommost_compression = rocksdb::kNoCompression;
        o.memtable_prefix_bloom_size_ratio = 0.05;  // cheap misses for the per-event lookup
        o.memtable_whole_key_filtering = true;
      }
      cfs.emplace_back(kCfNames[cf], o);
      // The bulk path's table files. SstFileWriter compresses with bottommost_compression
      // whenever one is set (an ingested file may land on the last level): ZSTD there cost a
      // quarter of an import's CPU, so bulk files get LZ4, and compactions still write the
      // last level with ZSTD. History files overlap every earlier batch (their keys start with
      // the user), so a compaction soon merges them: compressing them would only be undone.
      rocksdb::ColumnFamilyOptions bulk = o;
      bulk.bottommost_compression = rocksdb::kDisableCompressionOption;
      if (cf == kHistory) bulk.compression = rocksdb::kNoCompression;
      cf_options_.push_back(rocksdb::Options(db_options, bulk));
    }
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s;
    if (options_.read_only) {
      s = rocksdb::DB::OpenForReadOnly(db_options, options_.path, cfs, &handles_, &raw);
    } else {
      std::error_code ec;
      std::filesystem::create_directories(options_.path, ec);
      if (ec)
        return absl::InvalidArgumentError(
            Cat("cannot create data directory ", options_.path, ": ", ec.message()));
      s = rocksdb::DB::Open(db_options, options_.path, cfs, &handles_, &raw);
    }
    if (!s.ok()) {
      std::string hint = s.IsIOError() && s.ToString().find("lock") != std::string::npos
                             ? " (is another funnel process using this data directory?)"
                             : "";
      return absl::UnavailableError(
          Cat("cannot open event store at ", options_.path, ": ", s.ToString(), hint));
    }
    db_.reset(raw);
    if (!options_.read_only) {
      // Files of a bulk write that a crash interrupted were never ingested: drop them.
      std::error_code ec;
      std::filesystem::remove_all(options_.path + "/ingest", ec);
    }
    return absl::OkStatus();
  }

  Status LoadState() {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[kDefault], kStatsKey, &value);
    if (s.ok()) {
      if (!counters_.Decode(value))
        return absl::DataLossError(Cat("event store at ", options_.path,
                                                ": unreadable stats record (wrong version?)"));
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "event store open");
    }
    {
      // The stats record counts every event, but the dedupe index itself is what the filter
      // stands in for: it must be empty.
      std::unique_ptr<rocksdb::Iterator> d(db_->NewIterator(rocksdb::ReadOptions(), handles_[kDedupe]));
      d->SeekToFirst();
      FUNNEL_RETURN_IF_ERROR(FromRocks(d->status(), "event store open"));
      fresh_at_open_ = counters_.events == 0 && !d->Valid();
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kDict]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      if (k.size() != 5) return absl::DataLossError("event store: bad dictionary key");
      IdDictionary* dict = k[0] == kUserDict ? &users_ : k[0] == kItemDict ? &items_
                         : k[0] == kTypeDict ? &types_ : nullptr;
      uint32_t idx = enc::GetBE32(k.data() + 1);
      if (dict == nullptr || idx != dict->size())
        return absl::DataLossError("event store: dictionary has a gap or unknown kind");
      dict->Restore(idx, it->value().ToStringView());
    }
    return FromRocks(it->status(), "event store dictionary load");
  }

  // Interns the ids of one batch into a dictionary (caller holds dict_mu_ exclusively); new
  // entries are added to the dictionary rows. Sessions repeat the same user and item over
  // consecutive events, so the last answer is kept and checked first.
  class Interner {
   public:
    Interner(IdDictionary& dict, char kind, SortedRows& rows) : dict_(dict), kind_(kind), rows_(rows) {}
    uint32_t Intern(std::string_view name) {
      if (has_last_ && name == last_name_) return last_idx_;
      last_idx_ = InternLocked(dict_, kind_, name, rows_);
      last_name_.assign(name);
      has_last_ = true;
      return last_idx_;
    }

   private:
    IdDictionary& dict_;
    char kind_;
    SortedRows& rows_;
    bool has_last_ = false;
    std::string last_name_;
    uint32_t last_idx_ = 0;
  };

  // Caller holds dict_mu_ exclusively; a new entry is added to the dictionary rows.
  static uint32_t InternLocked(IdDictionary& dict, char kind, std::string_view name,
                               SortedRows& dict_rows) {
    bool added = false;
    uint32_t idx = dict.Intern(name, &added);
    if (added) dict_rows.Add(enc::DictKey(kind, idx), name);
    return idx;
  }

  void RollbackDicts(size_t users, size_t items, size_t types) {
    users_.Truncate(users);
    items_.Truncate(items);
    types_.Truncate(types);
  }

  // Batch positions ordered by key (bytewise, as RocksDB orders them), equal keys by position.
  static std::vector<uint32_t> SortByKey(const std::vector<Key>& keys) {
    std::vector<std::pair<uint64_t, uint32_t>> by_prefix(keys.size());
    for (uint32_t i = 0; i < keys.size(); ++i) by_prefix[i] = {enc::GetBE64(keys[i].bytes), i};
    // Most comparisons end at the first 8 bytes, compared as one integer.
    std::sort(by_prefix.begin(), by_prefix.end(), [&](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      int c = std::memcmp(keys[a.second].bytes + 8, keys[b.second].bytes + 8, 8);
      return c != 0 ? c < 0 : a.second < b.second;
    });
    std::vector<uint32_t> order(keys.size());
    for (size_t j = 0; j < keys.size(); ++j) order[j] = by_prefix[j].second;
    return order;
  }

  // Sets (*skip)[i] for each i of `firsts` (batch positions in key order) whose key is already
  // in the dedupe column family.
  Status MarkStored(const std::vector<Key>& keys, const std::vector<uint32_t>& firsts,
                    std::vector<uint8_t>* skip) const {
    if (counters_.events == 0) return absl::OkStatus();
    std::vector<uint32_t> lookup;
    if (fresh_at_open_) {
      // Every stored key was written by this object: the ones it never wrote are new.
      for (uint32_t i : firsts)
        if (written_keys_.MayContain(keys[i].bytes)) lookup.push_back(i);
    } else {
      lookup = firsts;
    }
    if (lookup.empty()) return absl::OkStatus();
    std::vector<rocksdb::Slice> slices;
    slices.reserve(lookup.size());
    for (uint32_t i : lookup) slices.emplace_back(keys[i].bytes, kKeyBytes);
    std::vector<rocksdb::PinnableSlice> values(lookup.size());
    std::vector<rocksdb::Status> statuses(lookup.size());
    // Two halves of the sorted keys in parallel: the importer's parser thread is mostly idle
    // while a batch commits, so the second core is free.
    auto run = [&](size_t begin, size_t end) {
      db_->MultiGet(rocksdb::ReadOptions(), handles_[kDedupe], end - begin, slices.data() + begin,
                    values.data() + begin, statuses.data() + begin, /*sorted_input=*/true);
    };
    size_t half = lookup.size() >= 10000 ? lookup.size() / 2 : lookup.size();
    std::future<void> upper;
    if (half < lookup.size()) upper = std::async(std::launch::async, run, half, lookup.size());
    run(0, half);
    if (upper.valid()) upper.get();
    for (size_t j = 0; j < lookup.size(); ++j) {
      if (statuses[j].ok()) (*skip)[lookup[j]] = 1;
      else if (!statuses[j].IsNotFound()) return FromRocks(statuses[j], "event store dedupe lookup");
    }
    return absl::OkStatus();
  }

  // Each record is a patch of the stored one (events::ApplyPatch), merged under the writer
  // lock and written in the same batch, so no other upsert slips between the read and the
  // write; a record repeated within the batch patches the result of its earlier copies.
  template <typename Record, typename DecodeFn, typename EncodeFn>
  Status UpsertRecords(std::span<const Record> records, char dict_kind, Cf cf,
                       uint64_t Counters::*counter, std::vector<Record>* merged, std::string Record::*id,
                       DecodeFn decode, EncodeFn encode) {
    if (options_.read_only) return absl::FailedPreconditionError("event store is read-only");
    std::lock_guard write_lock(write_mu_);
    IdDictionary& dict = dict_kind == kUserDict ? users_ : items_;
    const size_t users_before = users_.size(), items_before = items_.size();
    Counters next = counters_;
    absl::flat_hash_map<uint32_t, size_t> slot_of;  // record index -> position in `results`
    std::vector<std::pair<uint32_t, Record>> results;
    std::string key, value, existing;
    SortedRows dict_rows;
    auto rollback = [&](Status s) {
      std::unique_lock dict_lock(dict_mu_);
      RollbackDicts(users_before, items_before, types_.size());
      return s;
    };
    for (const Record& r : records) {
      const std::string& name = r.*id;
      uint32_t idx;
      {
        std::unique_lock dict_lock(dict_mu_);
        idx = InternLocked(dict, dict_kind, name, dict_rows);
      }
      auto [slot, inserted] = slot_of.try_emplace(idx, results.size());
      if (inserted) {
        Record base{};
        base.*id = name;
        key.clear();
        enc::PutBE32(key, idx);
        rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), handles_[cf], key, &existing);
        if (got.IsNotFound()) {
          ++(next.*counter);
        } else if (!got.ok()) {
          return rollback(FromRocks(got, "event store metadata read"));
        } else if (!decode(existing, &base)) {
          return rollback(absl::DataLossError(Cat("undecodable stored record of ", name)));
        }
        results.emplace_back(idx, std::move(base));
      }
      events::ApplyPatch(r, &results[slot->second].second);
    }
    rocksdb::WriteBatch wb;
    for (const auto& [idx, record] : results) {
      key.clear();
      enc::PutBE32(key, idx);
      encode(record, value);
      wb.Put(handles_[cf], key, value);
    }
    dict_rows.ForEach([&](rocksdb::Slice k, rocksdb::Slice v) { wb.Put(handles_[kDict], k, v); });
    wb.Put(handles_[kDefault], kStatsKey, next.Encode());
    Status s = FromRocks(db_->Write(WriteOpts(), &wb), "event store write");
    if (!s.ok()) return rollback(s);
    {
      std::lock_guard stats_lock(stats_mu_);
      counters_ = std::move(next);
    }
    if (merged != nullptr) {
      merged->clear();
      merged->reserve(results.size());
      for (auto& [idx, record] : results) merged->push_back(std::move(record));
    }
    return absl::OkStatus();
  }

  // Writes the rows of every column family as one atomic, durable unit.
  Status Commit(BatchRows& rows, bool bulk) {
    if (!bulk) {
      for (auto& r : rows) r.Sort();
      rocksdb::WriteBatch wb;
      for (size_t cf = 0; cf < kNumCf; ++cf)
        rows[cf].ForEach([&](rocksdb::Slice k, rocksdb::Slice v) { wb.Put(handles_[cf], k, v); });
      return FromRocks(db_->Write(WriteOpts(), &wb), "event store write");
    }
    return IngestRows(rows);
  }

  // The bulk path: one sorted SST file per column family, built in parallel and ingested with
  // a single atomic IngestExternalFiles (one MANIFEST record: all files or none survive a
  // crash). It skips the write-ahead log, the memtable and its flush, which is where a
  // row-at-a-time write spends its time on large imports.
  Status IngestRows(BatchRows& rows) {
    std::string dir = options_.path + "/ingest";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return absl::InternalError(Cat("cannot create ", dir, ": ", ec.message()));
    std::vector<std::string> files(kNumCf);
    std::vector<std::future<Status>> writers;
    for (size_t cf = 0; cf < kNumCf; ++cf) {
      if (rows[cf].empty()) continue;
      files[cf] = Cat(dir, "/", ingest_counter_++, "-", kCfNames[cf], ".sst");
      auto write = [this, &rows, &files, cf]() -> Status {
        rows[cf].Sort();
        rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), cf_options_[cf], handles_[cf]);
        FUNNEL_RETURN_IF_ERROR(FromRocks(writer.Open(files[cf]), "event store bulk write"));
        rocksdb::Status st;
        rows[cf].ForEach([&](rocksdb::Slice k, rocksdb::Slice v) {
          if (st.ok()) st = writer.Put(k, v);
        });
        if (st.ok()) st = writer.Finish();  // fsyncs the file
        return FromRocks(st, "event store bulk write");
      };
      // The big column families build their files side by side; the small ones inline.
      if (rows[cf].size() > 1000) writers.push_back(std::async(std::launch::async, write));
      else FUNNEL_RETURN_IF_ERROR(write());
    }
    Status written = absl::OkStatus();
    for (auto& w : writers) {
      Status s = w.get();
      if (written.ok()) written = s;
    }
    std::vector<rocksdb::IngestExternalFileArg> args;
    for (size_t cf = 0; cf < kNumCf && written.ok(); ++cf) {
      if (files[cf].empty()) continue;
      rocksdb::IngestExternalFileArg arg;
      arg.column_family = handles_[cf];
      arg.external_files = {files[cf]};
      arg.options.move_files = true;
      arg.options.allow_blocking_flush = true;  // a file overlapping the memtable flushes it
      args.push_back(std::move(arg));
    }
    if (written.ok()) written = FromRocks(db_->IngestExternalFiles(args), "event store ingest");
    for (const auto& f : files)
      if (!f.empty()) std::filesystem::remove(f, ec);  // moved on success; debris on failure
    return written;
  }

  std::string NameOf(const IdDictionary& dict, uint32_t idx) const {
    std::shared_lock l(dict_mu_);
    return idx < dict.size() ? dict.Name(idx) : std::string();
  }
  uint32_t SizeOf(const IdDictionary& dict) const {
    std::shared_lock l(dict_mu_);
    return static_cast<uint32_t>(dict.size());
  }

  // Constant after construction.
  EventStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::vector<rocksdb::Options> cf_options_;  // for SstFileWriter, per column family

  std::mutex write_mu_;  // serializes writers
  mutable std::shared_mutex dict_mu_;  // guards the dictionaries
  IdDictionary users_, items_, types_;
  mutable std::mutex stats_mu_;  // guards counters_ (written under write_mu_ too)
  Counters counters_;
  uint64_t ingest_counter_ = 0;  // guarded by write_mu_
  // Guarded by write_mu_: whether the store held no event when opened, and then every dedupe
  // key written since (the filter that spares new keys their lookup).
  bool fresh_at_open_ = false;
  KeyFilter written_keys_;
  static constexpr size_t kMaxFilterKeys = size_t{32} << 20;
};

}  // namespace

StatusOr<std::unique_ptr<EventStore>> EventStore::Open(const EventStoreOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("event store path is empty");
  return RocksEventStore::Open(options);
}

}  // namespace funnel::store

namespace funnel::store {

std::optional<Timestamp> DataPresent(const EventStore& store) {
  std::optional<Timestamp> newest = store.NewestEventTime();
  if (!newest || newest->micros() == INT64_MAX) return newest;
  return Timestamp::FromMicros(newest->micros() + 1);
}

}  // namespace funnel::store
