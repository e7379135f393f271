// Stable hashes (identical across runs, builds and machines), for keys written to disk.
// std::hash and absl::Hash are seeded per process, so they must never reach storage.
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace funnel {

struct Hash128 {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const Hash128&) const = default;
};

Hash128 StableHash128(std::string_view bytes);
uint64_t StableHash64(std::string_view bytes, uint64_t seed = 0);

}  // namespace funnel
