// The KvStore backends, private to the store stage: KvStore::Create is their only caller, so
// the implementations stay out of include/funnel/.
#pragma once

#include <memory>

#include "funnel/store/kv_store.h"

namespace funnel::store {

StatusOr<std::unique_ptr<KvStore>> NewMemoryKvStore(const KvOptions& options);
StatusOr<std::unique_ptr<KvStore>> NewRocksDbKvStore(const KvOptions& options);
StatusOr<std::unique_ptr<KvStore>> NewRedisKvStore(const KvOptions& options);

}  // namespace funnel::store
