// A small key-value interface for the online store (feature state, co-visitation, models'
// per-entity data), with three backends chosen in config:
//   memory   in-process ordered map (tests, ephemeral runs)
//   rocksdb  the embedded default: a RocksDB database under the data directory
//   redis    shared by several server processes (hiredis)
// Keys and values are byte strings; callers own their encodings. Batches are atomic on the
// memory and rocksdb backends and applied as one MULTI/EXEC transaction on redis.
//
//   FUNNEL_ASSIGN_OR_RETURN(auto kv, KvStore::Create(KvOptions{.backend = "memory"}));
//   KvBatch batch;  batch.Put("u:1", "...");  FUNNEL_RETURN_IF_ERROR(kv->Write(batch));
//   FUNNEL_ASSIGN_OR_RETURN(std::optional<std::string> v, kv->Get("u:1"));
//
// Thread-safety: every backend is safe for concurrent use from several threads.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/status.h"

namespace funnel::store {

struct KvOptions {
  // Every member has an initializer so designated initializers may leave any of them out.
  std::string backend = "rocksdb";  // memory | rocksdb | redis
  std::string path{};               // rocksdb: database directory
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  int redis_db = 0;
  std::string key_prefix{};         // redis: namespace for every key (several stores, one server)
  int timeout_ms = 2000;            // redis: connect and command timeout
  bool sync = true;                 // rocksdb: fsync each Write
};

class KvBatch {
 public:
  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

  struct Op {
    bool is_delete = false;
    std::string key;
    std::string value;
  };
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

class KvStore {
 public:
  // Creates a backend by name; an unknown name answers with the list of known ones.
  static StatusOr<std::unique_ptr<KvStore>> Create(const KvOptions& options);
  virtual ~KvStore() = default;

  // nullopt when the key is absent (an expected case, not an error).
  virtual StatusOr<std::optional<std::string>> Get(std::string_view key) const = 0;
  // One answer per key, in order, all from one consistent view: a concurrent Write is seen
  // entirely or not at all (on redis: MGETs, several wrapped in one MULTI/EXEC).
  virtual StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      std::span<const std::string> keys) const = 0;
  // Applies every operation of the batch, atomically; durable on return where the backend is.
  virtual Status Write(const KvBatch& batch) = 0;
  // Visits keys starting with `prefix` (in key order on memory and rocksdb; unordered on redis);
  // fn returns false to stop. Each key is visited once. fn may read and write this store. The
  // scan is a snapshot only on rocksdb; elsewhere a key written during the scan may be missed.
  // On redis the cost is a SCAN of the whole database, not just of the matching keys.
  virtual Status ScanPrefix(std::string_view prefix,
                            const std::function<bool(std::string_view key, std::string_view value)>& fn) const = 0;
  virtual std::string_view backend() const = 0;
};

}  // namespace funnel::store
