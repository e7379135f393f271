// KvStore on an embedded RocksDB database: the default online store of a single server.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/write_batch.h>

#include "store/kv_backends.h"

namespace funnel::store {
namespace {

// The smallest key greater than every key starting with `prefix`, or empty when there is none
// (an empty prefix, or one made only of 0xff bytes).
std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(s.back());
    if (last != 0xff) {
      ++last;
      return s;
    }
    s.pop_back();
  }
  return s;
}

// Thread-safe: RocksDB serializes writers itself and readers need no lock.
class RocksDbKvStore final : public KvStore {
 public:
  static StatusOr<std::unique_ptr<KvStore>> Open(const KvOptions& options) {
    if (options.path.empty())
      return absl::InvalidArgumentError("rocksdb kv backend needs a path (the database directory)");
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    if (ec)
      return absl::InvalidArgumentError(
          Cat("cannot create kv store directory ", options.path, ": ", ec.message()));

    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    db_options.max_background_jobs = 2;
    rocksdb::BlockBasedTableOptions table;
    // Online lookups mostly probe single keys, many of them absent (cold users and items).
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    db_options.compression = rocksdb::kLZ4Compression;

    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, &raw);
    // Files of a bulk write that a crash interrupted were never ingested: drop them.
    if (s.ok()) std::filesystem::remove_all(IngestDir(options.path), ec);
    if (!s.ok()) {
      std::string hint = s.IsIOError() && s.ToString().find("lock") != std::string::npos
                             ? " (is another funnel process using this data directory?)"
                             : "";
      return absl::UnavailableError(
          Cat("cannot open kv store at ", options.path, ": ", s.ToString(), hint));
    }
    return std::unique_ptr<KvStore>(new RocksDbKvStore(std::unique_ptr<rocksdb::DB>(raw), options, db_options));
  }

  StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return Error("get", s);
    return std::optional<std::string>(value.ToString());
  }

  StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      std::span<const std::string> keys) const override {
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    // One snapshot for the whole call, so a concurrent batch is seen entirely or not at all.
    const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    db_->MultiGet(ro, db_->DefaultColumnFamily(), keys.size(), slices.data(), values.data(),
                  statuses.data());
    db_->ReleaseSnapshot(snapshot);
    std::vector<std::optional<std::string>> out(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) return Error("multiget", statuses[i]);
      out[i] = values[i].ToString();
    }
    return out;
  }

  Status Write(const KvBatch& batch) override {
    if (batch.empty()) return absl::OkStatus();
    rocksdb::WriteBatch wb;
    // Large batches go in key order: the memtable's skip list then reuses its search path from
    // one insert to the next, which halves the cost of a 100k-key batch. The sort is stable, so
    // several operations on one key keep their order.
    std::vector<const KvBatch::Op*> ops;
    ops.reserve(batch.size());
    for (const KvBatch::Op& op : batch.ops()) ops.push_back(&op);
    if (ops.size() >= kSortedBatchOps) SortByKey(ops);
    if (ops.size() >= kBulkOps) return WriteBulk(ops);
    for (const KvBatch::Op* op : ops) {
      rocksdb::Status s = op->is_delete ? wb.Delete(op->key) : wb.Put(op->key, op->value);
      if (!s.ok()) return Error("write", s);
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync_;
    rocksdb::Status s = db_->Write(wo, &wb);
    return s.ok() ? absl::OkStatus() : Error("write", s);
  }

  Status ScanPrefix(std::string_view prefix,
                    const std::function<bool(std::string_view, std::string_view)>& fn)
      const override {
    std::string upper = PrefixSuccessor(prefix);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
      if (!fn(it->key().ToStringView(), it->value().ToStringView())) return absl::OkStatus();
    }
    return it->status().ok() ? absl::OkStatus() : Error("scan", it->status());
  }

  std::string_view backend() const override { return "rocksdb"; }

  static constexpr size_t kSortedBatchOps = 1024;
  // Batches with at least this many operations are written as one table file and ingested.
  static constexpr size_t kBulkOps = 10000;

 private:
  RocksDbKvStore(std::unique_ptr<rocksdb::DB> db, const KvOptions& options, const rocksdb::Options& db_options)
      : db_(std::move(db)), path_(options.path), sync_(options.sync), bulk_options_(BulkOptions(db_options)) {}

  // A bulk file overlaps the ones before it (the same records rewritten), so a compaction
  // merges it soon: compressing it would be undone then, so it is written uncompressed.
  static rocksdb::Options BulkOptions(rocksdb::Options o) {
    o.compression = rocksdb::kNoCompression;
    return o;
  }

  // Stable sort by key. Keys are compared through their first 8 bytes as one big-endian
  // integer, kept beside the operation: a plain sort of the pointers spent most of a large
  // write's time in memcmp calls and cache misses into the key strings.
  static void SortByKey(std::vector<const KvBatch::Op*>& ops) {
    struct Entry {
      uint64_t prefix;
      uint32_t pos;
    };
    std::vector<Entry> entries(ops.size());
    for (uint32_t i = 0; i < ops.size(); ++i) {
      unsigned char buf[8] = {0};
      const std::string& k = ops[i]->key;
      std::memcpy(buf, k.data(), std::min<size_t>(8, k.size()));
      uint64_t prefix = 0;
      for (unsigned char b : buf) prefix = prefix << 8 | b;
      entries[i] = {prefix, i};
    }
    std::sort(entries.begin(), entries.end(), [&](const Entry& a, const Entry& b) {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      int c = ops[a.pos]->key.compare(ops[b.pos]->key);
      return c != 0 ? c < 0 : a.pos < b.pos;  // equal keys keep batch order
    });
    std::vector<const KvBatch::Op*> sorted(ops.size());
    for (size_t j = 0; j < entries.size(); ++j) sorted[j] = ops[entries[j].pos];
    ops = std::move(sorted);
  }

  static std::string IngestDir(const std::string& path) { return path + "/ingest"; }

  // The bulk path (the online features write ~1 record per event folded): one sorted table
  // file, fsync'ed by the writer, then ingested with a single atomic IngestExternalFile (one
  // MANIFEST record: all of the batch or none survives a crash). It skips the write-ahead log
  // and the memtable, whose skip-list inserts were the largest cost of a big batch.
  // `ops` is in key order, several operations on one key in batch order: the last one wins.
  Status WriteBulk(const std::vector<const KvBatch::Op*>& ops) {
    std::string dir = IngestDir(path_);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return absl::InternalError(Cat("kv store ", path_, ": cannot create ", dir, ": ", ec.message()));
    std::string file = Cat(dir, "/", ingest_counter_.fetch_add(1), ".sst");
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), bulk_options_);
    rocksdb::Status s = writer.Open(file);
    for (size_t i = 0; i < ops.size() && s.ok(); ++i) {
      if (i + 1 < ops.size() && ops[i + 1]->key == ops[i]->key) continue;  // overwritten in the batch
      s = ops[i]->is_delete ? writer.Delete(ops[i]->key) : writer.Put(ops[i]->key, ops[i]->value);
    }
    if (s.ok()) s = writer.Finish();
    if (s.ok()) {
      rocksdb::IngestExternalFileOptions io;
      io.move_files = true;
      io.allow_blocking_flush = true;  // keys also in the memtable: flush it first
      s = db_->IngestExternalFile({file}, io);
    }
    std::filesystem::remove(file, ec);  // moved on success; debris on failure
    return s.ok() ? absl::OkStatus() : Error("bulk write", s);
  }

  static rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

  Status Error(std::string_view what, const rocksdb::Status& s) const {
    return absl::InternalError(Cat("kv store ", path_, ": ", what, ": ", s.ToString()));
  }

  // Constant after construction.
  std::unique_ptr<rocksdb::DB> db_;
  const std::string path_;
  const bool sync_;
  const rocksdb::Options bulk_options_;  // for the bulk path's table writer
  std::atomic<uint64_t> ingest_counter_{0};
};

}  // namespace

StatusOr<std::unique_ptr<KvStore>> NewRocksDbKvStore(const KvOptions& options) {
  return RocksDbKvStore::Open(options);
}

}  // namespace funnel::store
