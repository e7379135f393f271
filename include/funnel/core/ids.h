// Dense 32-bit indexes for string ids. Every stage past import works on UserIdx/ItemIdx so
// vectors can be indexed directly; the strong enum types stop a user index being used as
// an item index by mistake.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace funnel {

enum class UserIdx : uint32_t {};
enum class ItemIdx : uint32_t {};
enum class TypeIdx : uint16_t {};

constexpr uint32_t Raw(UserIdx u) { return static_cast<uint32_t>(u); }
constexpr uint32_t Raw(ItemIdx i) { return static_cast<uint32_t>(i); }
constexpr uint16_t Raw(TypeIdx t) { return static_cast<uint16_t>(t); }

// A two-way map between string ids and dense indexes 0..size()-1, in insertion order.
// Not thread-safe for writes; concurrent Find/Name calls without writers are safe.
class IdDictionary {
 public:
  std::optional<uint32_t> Find(std::string_view name) const {
    auto it = index_.find(absl::string_view(name.data(), name.size()));
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }
  // Returns the index of name, adding it when new. `added` tells which happened.
  uint32_t Intern(std::string_view name, bool* added = nullptr) {
    // Look up by view first: most calls find a known id, and building the key string for
    // try_emplace would cost an allocation for ids longer than the small-string buffer.
    if (auto it = index_.find(absl::string_view(name.data(), name.size())); it != index_.end()) {
      if (added) *added = false;
      return it->second;
    }
    auto idx = static_cast<uint32_t>(names_.size());
    index_.emplace(std::string(name), idx);
    names_.emplace_back(name);
    if (added) *added = true;
    return idx;
  }
  // Restores an entry read back from disk; idx must equal size().
  void Restore(uint32_t idx, std::string_view name);
  const std::string& Name(uint32_t idx) const { return names_[idx]; }
  size_t size() const { return names_.size(); }
  void Truncate(size_t n);  // drops entries >= n (rolls back an uncommitted batch)

 private:
  absl::flat_hash_map<std::string, uint32_t> index_;
  std::vector<std::string> names_;
};

}  // namespace funnel
