// KvStore in process memory: an ordered map behind a reader-writer lock. Nothing survives the
// process; meant for tests and ephemeral runs.
#include <map>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "store/kv_backends.h"

namespace funnel::store {
namespace {

// Thread-safe: readers share the lock, a Write holds it exclusively for the whole batch.
class MemoryKvStore final : public KvStore {
 public:
  StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    std::shared_lock lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      std::span<const std::string> keys) const override {
    std::vector<std::optional<std::string>> out(keys.size());
    std::shared_lock lock(mu_);
    for (size_t i = 0; i < keys.size(); ++i) {
      auto it = map_.find(keys[i]);
      if (it != map_.end()) out[i] = it->second;
    }
    return out;
  }

  Status Write(const KvBatch& batch) override {
    std::unique_lock lock(mu_);
    for (const KvBatch::Op& op : batch.ops()) {
      if (op.is_delete) {
        auto it = map_.find(op.key);
        if (it != map_.end()) map_.erase(it);
      } else {
        map_.insert_or_assign(op.key, op.value);
      }
    }
    return absl::OkStatus();
  }

  // Copies a chunk at a time and calls fn without the lock held, so fn may write to this store
  // (or read it while a writer waits) without deadlocking. Like the redis backend, a long scan
  // is therefore not one snapshot: a key written behind the cursor is not seen.
  Status ScanPrefix(std::string_view prefix,
                    const std::function<bool(std::string_view, std::string_view)>& fn)
      const override {
    constexpr size_t kChunk = 256;
    std::string resume(prefix);
    bool first = true;
    std::vector<std::pair<std::string, std::string>> chunk;
    while (true) {
      chunk.clear();
      {
        std::shared_lock lock(mu_);
        auto it = first ? map_.lower_bound(resume) : map_.upper_bound(resume);
        for (; it != map_.end() && chunk.size() < kChunk && it->first.starts_with(prefix); ++it)
          chunk.emplace_back(it->first, it->second);
      }
      for (const auto& [key, value] : chunk)
        if (!fn(key, value)) return absl::OkStatus();
      if (chunk.size() < kChunk) return absl::OkStatus();
      resume = std::move(chunk.back().first);
      first = false;
    }
  }

  std::string_view backend() const override { return "memory"; }

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::string, std::less<>> map_;  // guarded by mu_
};

}  // namespace

StatusOr<std::unique_ptr<KvStore>> NewMemoryKvStore(const KvOptions&) {
  return std::unique_ptr<KvStore>(new MemoryKvStore());
}

}  // namespace funnel::store
