#include "events/movielens_text.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include <simdjson.h>

namespace funnel::events::movielens {

LineReader::LineReader(std::FILE* file, size_t chunk_bytes) : file_(file) {
  // Room for one chunk after a partial line of up to kMaxLine kept from the previous chunk.
  buf_.resize(chunk_bytes + kMaxLine);
}

bool LineReader::Next(std::string_view* line, bool* too_long) {
  *too_long = false;
  for (;;) {
    const char* begin = buf_.data() + pos_;
    size_t avail = end_ - pos_;
    const void* nl = avail > 0 ? std::memchr(begin, '\n', avail) : nullptr;
    if (nl != nullptr) {
      size_t n = static_cast<const char*>(nl) - begin;
      pos_ += n + 1;
      return Emit(begin, n, line, too_long);
    }
    if (eof_) {
      if (avail == 0 && !skipping_) return false;
      pos_ = end_;
      return Emit(begin, avail, line, too_long);  // last line without a newline
    }
    if (avail > kMaxLine) {  // no newline within the limit: drop what we have, skip to the next
      skipping_ = true;
      pos_ = end_;
    }
    Fill();
  }
}

bool LineReader::Emit(const char* begin, size_t n, std::string_view* line, bool* too_long) {
  ++line_no_;
  if (skipping_) {  // the tail of an over-long line
    skipping_ = false;
    *too_long = true;
  }
  if (n > 0 && begin[n - 1] == '\r') --n;
  *line = std::string_view(begin, n);
  return true;
}

void LineReader::Fill() {
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  size_t room = buf_.size() - end_;
  size_t n = std::fread(buf_.data() + end_, 1, room, file_);
  end_ += n;
  bytes_read_ += n;
  if (n < room) {
    eof_ = true;
    if (std::ferror(file_)) error_ = errno != 0 ? errno : EIO;
  }
}

size_t SplitFields(std::string_view line, std::string_view sep, std::span<std::string_view> out) {
  size_t count = 0, start = 0;
  for (;;) {
    size_t at = line.find(sep, start);
    std::string_view field = line.substr(start, at == std::string_view::npos ? at : at - start);
    if (count < out.size()) out[count] = field;
    ++count;
    if (at == std::string_view::npos) return count;
    start = at + sep.size();
  }
}

bool CsvSplitter::Split(std::string_view line, std::vector<std::string_view>* fields,
                        std::string* error) {
  fields->clear();
  // Unquoted text is never longer than the line, so reserving it up front keeps the views
  // into unquoted_ valid while it grows.
  unquoted_.clear();
  unquoted_.reserve(line.size());
  const size_t n = line.size();
  size_t i = 0;
  for (;;) {
    if (i < n && line[i] == '"') {
      size_t start = unquoted_.size();
      ++i;
      for (;;) {
        if (i >= n) {
          *error = "unterminated quoted field";
          return false;
        }
        char c = line[i++];
        if (c != '"') {
          unquoted_.push_back(c);
        } else if (i < n && line[i] == '"') {  // "" inside quotes is one quote
          unquoted_.push_back('"');
          ++i;
        } else {
          break;
        }
      }
      fields->emplace_back(unquoted_.data() + start, unquoted_.size() - start);
      if (i == n) return true;
      if (line[i] != ',') {
        *error = "unexpected text after a closing quote";
        return false;
      }
      ++i;
    } else {
      size_t comma = line.find(',', i);
      if (comma == std::string_view::npos) {
        fields->push_back(line.substr(i));
        return true;
      }
      fields->push_back(line.substr(i, comma - i));
      i = comma + 1;
    }
  }
}

bool ParseUint(std::string_view s, uint64_t* out) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, std::chars_format::fixed);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(*out);
}

void AppendUtf8(std::string& out, std::string_view s) {
  if (simdjson::validate_utf8(s.data(), s.size())) {
    out.append(s);
    return;
  }
  // Latin-1: every byte is the code point of the same value; those >= 0x80 take two bytes.
  for (unsigned char c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
}

std::string Quoted(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string utf8;
  AppendUtf8(utf8, s);
  if (utf8.size() <= kMax) return JsonQuoted(utf8);
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(utf8[cut]) & 0xC0) == 0x80) --cut;  // whole characters
  std::string out = JsonQuoted(std::string_view(utf8).substr(0, cut));
  out.insert(out.size() - 1, "...");
  return out;
}

void JsonObjectBuilder::String(std::string_view key, std::string_view text) {
  utf8_.clear();
  AppendUtf8(utf8_, text);
  writer_.Key(key).String(utf8_);
}

void JsonObjectBuilder::Int(std::string_view key, int64_t value) { writer_.Key(key).Int(value); }

void JsonObjectBuilder::Finish() {
  writer_.EndObject();
  out_->assign(writer_.text());
}

std::optional<int> YearOfTitle(std::string_view title) {
  for (size_t close = title.rfind(')'); close != std::string_view::npos && close >= 5;
       close = title.rfind(')', close - 1)) {
    size_t open = close - 5;
    uint64_t year = 0;
    if (title[open] == '(' && ParseUint(title.substr(open + 1, 4), &year) && year >= 1800 &&
        year <= 2100)
      return static_cast<int>(year);
  }
  return std::nullopt;
}

std::optional<std::string> IsoDateOfDayMonYear(std::string_view s) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::string_view parts[3];
  if (SplitFields(s, "-", parts) != 3) return std::nullopt;
  uint64_t day = 0, year = 0;
  if (parts[0].size() > 2 || !ParseUint(parts[0], &day) || day < 1 || day > 31) return std::nullopt;
  if (parts[2].size() != 4 || !ParseUint(parts[2], &year)) return std::nullopt;
  for (int m = 0; m < 12; ++m) {
    if (parts[1] != kMonths[m]) continue;
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", static_cast<int>(year), m + 1,
                  static_cast<int>(day));
    return std::string(buf);
  }
  return std::nullopt;
}

void AppendDecimal(std::string& out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;  // 24 bytes always fit an int64
  out.append(buf, end);
}

}  // namespace funnel::events::movielens
