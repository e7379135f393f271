// Funnel's container for binary model files: named, typed arrays behind a magic, a format
// version, a kind tag and an XXH3 checksum of everything, written atomically (temp file,
// fsync, rename). Every trained artifact (popularity scores, co-visitation lists, factors, EASE
// weights) is one of these; docs/formats/blob-file.md has the layout.
//
//   BlobWriter w("covisit");
//   w.Add("offsets", offsets);  w.Add("scores", scores);
//   FUNNEL_RETURN_IF_ERROR(w.Write(dir + "/covisit.blob"));
//   FUNNEL_ASSIGN_OR_RETURN(BlobReader r, BlobReader::Open(dir + "/covisit.blob", "covisit"));
//   FUNNEL_ASSIGN_OR_RETURN(std::vector<uint64_t> offsets, r.Get<uint64_t>("offsets"));
//
// Thread-safety: writers and readers are values; use one per thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/status.h"

namespace funnel {

enum class BlobType : uint8_t { kF32 = 1, kU32 = 2, kI64 = 3, kU64 = 4, kBytes = 5, kF64 = 6 };

template <typename T> constexpr BlobType BlobTypeOf();
template <> constexpr BlobType BlobTypeOf<float>() { return BlobType::kF32; }
template <> constexpr BlobType BlobTypeOf<uint32_t>() { return BlobType::kU32; }
template <> constexpr BlobType BlobTypeOf<int64_t>() { return BlobType::kI64; }
template <> constexpr BlobType BlobTypeOf<uint64_t>() { return BlobType::kU64; }
template <> constexpr BlobType BlobTypeOf<double>() { return BlobType::kF64; }
template <> constexpr BlobType BlobTypeOf<char>() { return BlobType::kBytes; }

class BlobWriter {
 public:
  explicit BlobWriter(std::string kind) : kind_(std::move(kind)) {}
  template <typename T>
  void Add(std::string name, std::span<const T> values) {
    Section& s = sections_[std::move(name)];
    s.type = BlobTypeOf<T>();
    s.count = values.size();
    s.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  }
  template <typename T>
  void Add(std::string name, const std::vector<T>& values) { Add(std::move(name), std::span<const T>(values)); }
  void AddString(std::string name, std::string_view s) { Add(std::move(name), std::span<const char>(s.data(), s.size())); }
  // Writes path.tmp, fsyncs it, renames it to path: a crash leaves the old file or the new one.
  Status Write(const std::string& path) const;

 private:
  struct Section {
    BlobType type = BlobType::kBytes;
    uint64_t count = 0;
    std::string bytes;
  };
  std::string kind_;
  std::map<std::string, Section> sections_;
};

class BlobReader {
 public:
  // Reads and verifies the whole file; a wrong magic, version, kind or checksum, or a truncated
  // file, is an error naming the file and what is wrong.
  static StatusOr<BlobReader> Open(const std::string& path, std::string_view kind);

  const std::string& path() const { return path_; }
  bool Has(std::string_view name) const { return sections_.contains(std::string(name)); }
  template <typename T>
  StatusOr<std::vector<T>> Get(std::string_view name) const {
    auto it = sections_.find(std::string(name));
    if (it == sections_.end()) return absl::DataLossError(Cat(path_, ": no section '", name, "'"));
    if (it->second.type != BlobTypeOf<T>())
      return absl::DataLossError(Cat(path_, ": section '", name, "' has another element type"));
    std::vector<T> out(it->second.count);
    if (!out.empty()) std::memcpy(out.data(), data_.data() + it->second.offset, out.size() * sizeof(T));
    return out;
  }
  StatusOr<std::string> GetString(std::string_view name) const {
    FUNNEL_ASSIGN_OR_RETURN(std::vector<char> v, Get<char>(name));
    return std::string(v.begin(), v.end());
  }

 private:
  struct Section {
    BlobType type;
    uint64_t count;
    size_t offset;
  };
  std::string path_;
  std::string data_;
  std::map<std::string, Section> sections_;
};

}  // namespace funnel
