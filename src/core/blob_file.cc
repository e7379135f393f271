#include "funnel/core/blob_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include <xxhash.h>

namespace funnel {

namespace {

constexpr char kMagic[8] = {'F', 'U', 'N', 'N', 'E', 'L', 'B', '1'};
constexpr uint32_t kVersion = 1;

size_t ElementSize(BlobType t) {
  switch (t) {
    case BlobType::kF32: case BlobType::kU32: return 4;
    case BlobType::kI64: case BlobType::kU64: case BlobType::kF64: return 8;
    case BlobType::kBytes: return 1;
  }
  return 0;
}

template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

class Cursor {
 public:
  explicit Cursor(std::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T* v) {
    if (in_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n = 0;
    if (!Get(&n) || in_.size() - pos_ < n) return false;
    s->assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool Skip(uint64_t n) {
    if (in_.size() - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

Status BlobWriter::Write(const std::string& path) const {
  std::string head;
  head.append(kMagic, sizeof kMagic);
  Put(head, kVersion);
  Put(head, static_cast<uint32_t>(kind_.size()));
  head += kind_;
  Put(head, static_cast<uint32_t>(sections_.size()));
  XXH3_state_t* hash = XXH3_createState();
  XXH3_64bits_reset(hash);
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    XXH3_freeState(hash);
    return absl::InternalError(Cat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  bool ok = true;
  auto write = [&](std::string_view bytes) {
    XXH3_64bits_update(hash, bytes.data(), bytes.size());
    for (size_t done = 0; ok && done < bytes.size();) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ok = false;
      else done += static_cast<size_t>(n);
    }
  };
  write(head);
  for (const auto& [name, s] : sections_) {
    std::string h;
    Put(h, static_cast<uint32_t>(name.size()));
    h += name;
    Put(h, static_cast<uint8_t>(s.type));
    Put(h, s.count);
    write(h);
    write(s.bytes);
  }
  std::string tail;
  Put(tail, static_cast<uint64_t>(XXH3_64bits_digest(hash)));
  XXH3_freeState(hash);
  for (size_t done = 0; ok && done < tail.size();) {
    ssize_t n = ::write(fd, tail.data() + done, tail.size() - done);
    if (n <= 0) ok = false;
    else done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(Cat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

StatusOr<BlobReader> BlobReader::Open(const std::string& path, std::string_view kind) {
  BlobReader r;
  r.path_ = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(Cat("cannot open ", path));
  r.data_.assign(std::istreambuf_iterator<char>(in), {});
  auto bad = [&](std::string_view why) { return absl::DataLossError(Cat(path, ": ", why)); };
  if (r.data_.size() < sizeof kMagic + 8 || std::memcmp(r.data_.data(), kMagic, sizeof kMagic) != 0)
    return bad("not a funnel model file (bad magic)");
  const size_t body = r.data_.size() - 8;
  uint64_t want = 0;
  std::memcpy(&want, r.data_.data() + body, 8);
  if (XXH3_64bits(r.data_.data(), body) != want) return bad("checksum mismatch (truncated or corrupted)");
  Cursor c(std::string_view(r.data_.data(), body));
  c.Skip(sizeof kMagic);
  uint32_t version = 0, sections = 0;
  std::string got_kind;
  if (!c.Get(&version)) return bad("truncated header");
  if (version != kVersion) return bad(Cat("format version ", version, " (this build reads ", kVersion, ")"));
  if (!c.Str(&got_kind) || !c.Get(&sections)) return bad("truncated header");
  if (got_kind != kind) return bad(Cat("holds a '", got_kind, "', expected a '", kind, "'"));
  for (uint32_t i = 0; i < sections; ++i) {
    std::string name;
    uint8_t type = 0;
    uint64_t count = 0;
    if (!c.Str(&name) || !c.Get(&type) || !c.Get(&count)) return bad("truncated section header");
    size_t size = ElementSize(static_cast<BlobType>(type));
    if (size == 0) return bad(Cat("section '", name, "' has an unknown element type"));
    if (count > body / size) return bad(Cat("section '", name, "' is longer than the file"));
    r.sections_[name] = {static_cast<BlobType>(type), count, c.pos()};
    if (!c.Skip(count * size)) return bad(Cat("section '", name, "' is truncated"));
  }
  if (c.pos() != body) return bad("trailing bytes");
  return r;
}

}  // namespace funnel
