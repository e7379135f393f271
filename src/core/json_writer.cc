#include "funnel/core/json_writer.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "funnel/core/status.h"

namespace funnel {

namespace {

// Length of the well-formed UTF-8 sequence that starts at p (Unicode Table 3-7), 0 when none.
size_t SequenceLength(const unsigned char* p, size_t n) {
  const unsigned char b = p[0];
  if (b < 0x80) return 1;
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < n && p[i] >= lo && p[i] <= hi;
  };
  if (b >= 0xC2 && b <= 0xDF) return cont(1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    const unsigned char lo = b == 0xE0 ? 0xA0 : 0x80;  // no overlongs
    const unsigned char hi = b == 0xED ? 0x9F : 0xBF;  // no surrogates
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    const unsigned char lo = b == 0xF0 ? 0x90 : 0x80;  // no overlongs
    const unsigned char hi = b == 0xF4 ? 0x8F : 0xBF;  // nothing past U+10FFFF
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

void AppendValidUtf8(std::string_view s, std::string* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  out->reserve(out->size() + n);
  for (size_t i = 0; i < n;) {
    const size_t len = SequenceLength(p + i, n - i);
    if (len == 0) {
      out->append("\xEF\xBF\xBD");
      ++i;
    } else {
      out->append(s.data() + i, len);
      i += len;
    }
  }
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    const size_t len = SequenceLength(p + i, s.size() - i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  AppendValidUtf8(s, &out);
  return out;
}

void JsonWriter::Failed() {
  std::fprintf(stderr, "JsonWriter: RapidJSON refused a value it was given\n");
  std::abort();
}

std::string_view JsonWriter::Sanitized(std::string_view s) {
  scratch_.clear();
  AppendValidUtf8(s, &scratch_);
  return scratch_;
}

JsonWriter& JsonWriter::Fixed(int64_t units, int decimals) {
  FUNNEL_CHECK(decimals >= 0 && decimals <= 18);
  int64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  char digits[48];
  char* p = digits;
  // Magnitudes as unsigned, so INT64_MIN has one too.
  const uint64_t magnitude = units < 0 ? 0 - static_cast<uint64_t>(units) : static_cast<uint64_t>(units);
  if (units < 0) *p++ = '-';
  p = std::to_chars(p, digits + sizeof(digits), magnitude / static_cast<uint64_t>(scale)).ptr;
  uint64_t frac = magnitude % static_cast<uint64_t>(scale);
  if (frac != 0) {
    *p++ = '.';
    for (uint64_t div = static_cast<uint64_t>(scale) / 10; div > 0 && frac > 0; div /= 10) {
      *p++ = static_cast<char>('0' + frac / div);
      frac %= div;
    }
  }
  return Did(writer_.RawValue(digits, static_cast<size_t>(p - digits), rapidjson::kNumberType));
}

std::string JsonQuoted(std::string_view s) {
  JsonWriter w;
  w.String(s);
  return std::string(w.text());
}

void WriteRecordFields(JsonWriter& w, std::string_view key, std::string_view bytes) {
  w.Key(key).String(bytes);
  if (!IsValidUtf8(bytes)) {
    std::string base64_key(key);
    base64_key += "_base64";
    w.Key(base64_key).String(absl::Base64Escape(absl::string_view(bytes.data(), bytes.size())));
  }
}

}  // namespace funnel
