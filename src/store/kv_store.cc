#include "funnel/store/kv_store.h"

#include "store/kv_backends.h"

namespace funnel::store {

StatusOr<std::unique_ptr<KvStore>> KvStore::Create(const KvOptions& options) {
  if (options.backend == "memory") return NewMemoryKvStore(options);
  if (options.backend == "rocksdb") return NewRocksDbKvStore(options);
  if (options.backend == "redis") return NewRedisKvStore(options);
  return absl::InvalidArgumentError(
      Cat("unknown kv backend '", options.backend, "'; known: memory, rocksdb, redis"));
}

}  // namespace funnel::store
