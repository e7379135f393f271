// Little-endian fixed-width fields and varint-prefixed strings for the fold's entity records
// (docs/formats/online-features.md). Doubles are copied bit for bit, so a record read back in
// another process yields exactly the values the writer computed.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace funnel::features::codec {

inline void PutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
template <typename T>
inline void PutRaw(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}
inline void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
inline void PutStr(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

// Reads from the front of a view; every getter returns false (and leaves garbage) when the
// input is too short, so a truncated record is detected, never over-read.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Raw(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return false;
      auto b = static_cast<uint8_t>(in_.front());
      in_.remove_prefix(1);
      *v |= uint64_t{b & 0x7Fu} << shift;
      if (b < 0x80) return true;
    }
    return false;
  }
  bool Str(std::string_view* s) {
    uint64_t n = 0;
    if (!Varint(&n) || n > in_.size()) return false;
    *s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }
  std::string_view rest() const { return in_; }

 private:
  std::string_view in_;
};

}  // namespace funnel::features::codec
