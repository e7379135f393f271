// The one JSON writer behind every JSON text Funnel writes (reports, rejects and dead-letter
// files, model manifests, `funnel eval --json`, generated data). It wraps RapidJSON's Writer so
// that escaping and number formatting follow one set of rules, written down here and in
// docs/formats/json.md:
//
//  - Strings: `"` and `\` are escaped, and every control character below 0x20 as \b \t \n \f \r
//    or \u00XX (NUL included: strings are byte ranges, not C strings). Nothing else is escaped.
//  - Invalid UTF-8: each byte that is not part of a well-formed UTF-8 sequence (Unicode Table
//    3-7: no overlongs, no surrogates, nothing above U+10FFFF, no truncated sequence) is written
//    as U+FFFD, so every text is valid UTF-8 and a reader never fails on it. The replacement
//    loses bytes; files that must keep a record's exact bytes (rejects, dead letters) write them
//    beside it with Base64 (see WriteRecordFields).
//  - Numbers: integers exactly; a double in the shortest decimal that reads back to the same
//    double (std::to_chars), a float in the shortest that reads back to the same float; NaN and
//    infinities, which JSON cannot spell, as null. Two cases keep a float-looking token so
//    that readers which parse digit-only tokens as 64-bit integers read them right: a whole
//    value of magnitude 2^53 or more takes the exponent form ("1.2345e+20"), negative zero is
//    "-0.0".
//
//   JsonWriter w;
//   w.StartObject().Key("user").String(user).Key("score").Double(0.25).EndObject();
//   w.EndLine();                  // JSON Lines: "\n", then the next value may follow
//   fwrite(w.text().data(), 1, w.text().size(), f);
//   w.Clear();                    // reuse the buffer for the next batch
//
// Thread-safety: not thread-safe; use one writer per thread.
#pragma once

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "funnel/core/status.h"

namespace funnel {

// True when `s` is well-formed UTF-8 (the rule above).
bool IsValidUtf8(std::string_view s);
// `s` with each byte outside a well-formed UTF-8 sequence replaced by U+FFFD (EF BF BD).
std::string ToValidUtf8(std::string_view s);

class JsonWriter {
 public:
  JsonWriter() : writer_(buffer_) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // Everything written so far (possibly several JSON Lines records).
  std::string_view text() const { return {buffer_.GetString(), buffer_.GetSize()}; }
  size_t size() const { return buffer_.GetSize(); }
  // True once a whole top-level value has been written.
  bool complete() const { return writer_.IsComplete(); }
  // Drops the text and starts over; the buffer keeps its capacity.
  void Clear() {
    buffer_.Clear();
    writer_.Reset(buffer_);
  }
  // Ends a JSON Lines record with "\n"; the next call starts a new top-level value.
  void EndLine() {
    buffer_.Put('\n');
    writer_.Reset(buffer_);
  }

  JsonWriter& StartObject() { return Did(writer_.StartObject()); }
  JsonWriter& EndObject() { return Did(writer_.EndObject()); }
  JsonWriter& StartArray() { return Did(writer_.StartArray()); }
  JsonWriter& EndArray() { return Did(writer_.EndArray()); }
  JsonWriter& Key(std::string_view key) { return String(key); }  // the writer knows a key's place
  JsonWriter& String(std::string_view s) {
    if (IsPlain(s)) return Did(writer_.Plain(s));
    if (!IsAscii(s)) s = Sanitized(s);
    return Did(writer_.String(s.data(), Size(s)));
  }
  JsonWriter& Int(int64_t v) { return Did(writer_.Int64(v)); }
  JsonWriter& Uint(uint64_t v) { return Did(writer_.Uint64(v)); }
  JsonWriter& Bool(bool v) { return Did(writer_.Bool(v)); }
  JsonWriter& Null() { return Did(writer_.Null()); }
  JsonWriter& Double(double v) { return Number(v); }
  // units / 10^decimals written exactly, trailing zeros dropped ("1700000074.99" for
  // 1700000074990 with 3): what Double(units / 10^decimals) writes for up to 15 significant
  // digits, without its shortest-form search, for fixed-point values on hot paths.
  JsonWriter& Fixed(int64_t units, int decimals);
  JsonWriter& Float(float v) { return Number(v); }

 private:
  // RapidJSON returns false only when asked for something it cannot write, which the checks
  // above rule out: a false is a bug here, never bad input.
  JsonWriter& Did(bool ok) {
    if (!ok) [[unlikely]] Failed();
    return *this;
  }
  [[noreturn]] static void Failed();
  template <typename T>
  JsonWriter& Number(T v) {
    if (!std::isfinite(v)) return Null();
    char digits[40];
    char* end = std::to_chars(digits, digits + sizeof(digits), v).ptr;
    if (std::fabs(v) >= T(9007199254740992.0) || v == 0) [[unlikely]]
      end = WholeAsFloat(digits, end, v);
    return Did(writer_.RawValue(digits, static_cast<size_t>(end - digits), rapidjson::kNumberType));
  }
  // Readers (simdjson among them) parse a token without '.' or 'e' as an integer: one past
  // 64 bits fails there, and "-0" reads back as +0. So whole numbers from 2^53 up take the
  // exponent form and negative zero is "-0.0".
  template <typename T>
  static char* WholeAsFloat(char* digits, char* end, T v) {
    if (v == 0) {
      if (!std::signbit(v)) return end;
      std::memcpy(digits, "-0.0", 4);
      return digits + 4;
    }
    if (std::string_view(digits, end - digits).find_first_of(".e") != std::string_view::npos) return end;
    return std::to_chars(digits, digits + 40, v, std::chars_format::scientific).ptr;
  }
  // Printable ASCII without '"' or '\\': the bytes are their own JSON text.
  static bool IsPlain(std::string_view s) {
    static constexpr auto kPlain = [] {
      std::array<bool, 256> t{};
      for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
      return t;
    }();
    for (char ch : s)
      if (!kPlain[static_cast<unsigned char>(ch)]) return false;
    return true;
  }
  static bool IsAscii(std::string_view s) {
    unsigned char any = 0;
    for (char c : s) any |= static_cast<unsigned char>(c);
    return any < 0x80;
  }
  static rapidjson::SizeType Size(std::string_view s) {
    // RapidJSON counts string bytes in 32 bits; nothing Funnel writes comes near 4 GiB.
    FUNNEL_CHECK(s.size() <= UINT32_MAX);
    return static_cast<rapidjson::SizeType>(s.size());
  }
  // `s` as valid UTF-8, copied into scratch_ (valid until the next call).
  std::string_view Sanitized(std::string_view s);

  // RapidJSON's Writer with one more method: a string that needs no escaping, copied in one
  // block (ids and keys are nearly all such; the per-byte escape loop was most of the
  // generator's JSON time).
  class Writer : public rapidjson::Writer<rapidjson::StringBuffer> {
   public:
    using rapidjson::Writer<rapidjson::StringBuffer>::Writer;
    bool Plain(std::string_view s) {
      Prefix(rapidjson::kStringType);
      char* p = os_->Push(s.size() + 2);
      p[0] = '"';
      if (!s.empty()) std::memcpy(p + 1, s.data(), s.size());  // an empty view may hold nullptr
      p[s.size() + 1] = '"';
      return EndValue(true);
    }
  };

  rapidjson::StringBuffer buffer_;
  Writer writer_;
  std::string scratch_;
};

// `s` as one JSON string literal, quotes included, by the rules above (for messages and keys).
std::string JsonQuoted(std::string_view s);

// Writes `"<key>":"<bytes as valid UTF-8>"` and, when that lost bytes (the input was not
// valid UTF-8), `"<key>_base64":"<the exact bytes, RFC 4648 Base64 with padding>"`, so a
// refused record can be recovered byte for byte while staying readable.
void WriteRecordFields(JsonWriter& w, std::string_view key, std::string_view bytes);

}  // namespace funnel
