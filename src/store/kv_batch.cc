#include "funnel/store/kv_store.h"

namespace funnel::store {

void KvBatch::Put(std::string_view key, std::string_view value) {
  ops_.push_back({false, std::string(key), std::string(value)});
}

void KvBatch::Delete(std::string_view key) { ops_.push_back({true, std::string(key), {}}); }

}  // namespace funnel::store
