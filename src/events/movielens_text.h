// Text primitives of the MovieLens importer (internal to src/events, not a public header):
// a streaming line reader, field splitting ('\t', '|', '::' and quoted CSV), strict number
// parsing with std::from_chars, Latin-1 repair, and JSON objects built with core's JsonWriter.
//
// Hand-written because they are small and on the hot path of 25M-line files; UTF-8 validation
// is simdjson's. Thread-safety: LineReader and CsvSplitter are not thread-safe (one per file);
// the free functions are.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/json_writer.h"

namespace funnel::events::movielens {

// Reads a file in large chunks and hands out one line at a time, so memory stays bounded
// whatever the file size.
class LineReader {
 public:
  static constexpr size_t kMaxLine = 1 << 20;  // longer lines are reported, not returned whole

  // Does not take ownership of `file`.
  explicit LineReader(std::FILE* file, size_t chunk_bytes = 4 << 20);

  // The next line without its '\n' (and without a trailing '\r'); false at end of input or on
  // a read error (see error()). The view stays valid until the next call. `*too_long` is set
  // for a line over kMaxLine, of which only a part is returned.
  bool Next(std::string_view* line, bool* too_long);

  uint64_t line_no() const { return line_no_; }
  uint64_t bytes_read() const { return bytes_read_; }
  int error() const { return error_; }  // errno of a failed read, 0 when none

 private:
  bool Emit(const char* begin, size_t n, std::string_view* line, bool* too_long);
  void Fill();

  std::FILE* file_;
  std::vector<char> buf_;
  size_t pos_ = 0, end_ = 0;
  bool eof_ = false, skipping_ = false;
  int error_ = 0;
  uint64_t line_no_ = 0, bytes_read_ = 0;
};

// Splits `line` on `sep` (one or more characters) into `out`; returns how many fields the line
// has, which may be more than out.size() (only the first out.size() are stored then).
size_t SplitFields(std::string_view line, std::string_view sep, std::span<std::string_view> out);

// Splits CSV records (RFC 4180: fields with commas or quotes are quoted, a quote inside a
// quoted field is doubled). A quote inside an unquoted field is kept as text, like Python's
// csv module does. Records cannot span lines (no MovieLens file has a newline in a field).
class CsvSplitter {
 public:
  // On success the views in `fields` stay valid until the next call; on failure `*error` says
  // what is wrong.
  bool Split(std::string_view line, std::vector<std::string_view>* fields, std::string* error);

 private:
  std::string unquoted_;
};

// Strict number parsing: the whole text must be the number (no spaces, no trailing text).
bool ParseUint(std::string_view s, uint64_t* out);   // digits only
bool ParseInt(std::string_view s, int64_t* out);     // optional '-' then digits
bool ParseDouble(std::string_view s, double* out);   // finite decimal, e.g. "3.5"

// Appends `s` to `out` as UTF-8: copied when it already is valid UTF-8, else decoded as
// Latin-1 (ISO-8859-1), the encoding of the older MovieLens files (u.item, ml-1m movies.dat).
void AppendUtf8(std::string& out, std::string_view s);

// `s` converted with AppendUtf8, quoted for an error message, cut to 40 bytes: got "x".
std::string Quoted(std::string_view s);

// Builds a minified JSON object (funnel/core/json_writer.h), in key order of the calls, into
// *out at Finish(). Text values are converted with AppendUtf8 first: MovieLens text is Latin-1
// where it is not UTF-8, which is a better guess for these files than U+FFFD.
class JsonObjectBuilder {
 public:
  explicit JsonObjectBuilder(std::string* out) : out_(out) { writer_.StartObject(); }
  void String(std::string_view key, std::string_view text);
  void Int(std::string_view key, int64_t value);
  void Finish();

 private:
  std::string* out_;
  JsonWriter writer_;
  std::string utf8_;
};

// The year of a title such as "Toy Story (1995)": the last "(YYYY)" in it, 1800 <= YYYY <= 2100
// (so "Land Before Time III (1995) (V)" has one too); nullopt when there is none.
std::optional<int> YearOfTitle(std::string_view title);

// "01-Jan-1995" or "4-Feb-1971" (ml-100k release dates) as "1995-01-01"; nullopt when the text
// is not such a date.
std::optional<std::string> IsoDateOfDayMonYear(std::string_view s);

// Decimal text of `v` appended to `out` (std::to_chars, no allocation beyond `out`).
void AppendDecimal(std::string& out, int64_t v);

}  // namespace funnel::events::movielens
