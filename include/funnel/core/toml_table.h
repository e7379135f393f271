// The one way Funnel's stages read and write their config tables (TOML). A stage declares its
// keys once, in one function templated on the direction, and the same lines read the table
// (TomlTableReader: type and range checks, unknown keys refused) and write it back
// (TomlTableWriter): a key that can be read can then always be written.
//
//   template <typename Io, typename O>
//   Status BindStore(Io& io, O& o) {
//     FUNNEL_RETURN_IF_ERROR(io.Int("commit_batch", &o.commit_batch, IntRange{.min = 1}));
//     return io.Done();
//   }
//   FUNNEL_ASSIGN_OR_RETURN(TomlDocument doc, TomlDocument::Parse(text, "funnel.toml"));
//   FUNNEL_ASSIGN_OR_RETURN(TomlTableReader store, doc.Root().Table("store"));
//   FUNNEL_RETURN_IF_ERROR(BindStore(store, options));          // reads
//   TomlTableWriter out("store");
//   FUNNEL_RETURN_IF_ERROR(BindStore(out, std::as_const(options)));  // writes; out.Text()
//
// Every error names the file, the line, the dotted key, what was expected and the value found:
//   tuned.toml:3: key 'retrieval.max_candidates': expected a non-negative integer, got -5
//
// Thread-safety: TomlDocument is immutable and shareable; readers and writers are single-thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "funnel/core/status.h"

namespace funnel {

// Inclusive bounds an integer key must fall in (narrowed further to the field's type).
struct IntRange {
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
};
inline constexpr IntRange kNonNegative{.min = 0};

// Bounds a number key must fall in; unbounded accepts anything, nan and inf included.
struct NumberRange {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false;  // true: min itself is refused
  bool max_open = false;
};

class TomlTableReader;

// A parsed TOML document.
class TomlDocument {
 public:
  // Syntax errors name the file, line and column.
  static StatusOr<TomlDocument> Parse(std::string_view text, std::string_view source_name);

  // The top-level table; its keys have no prefix.
  TomlTableReader Root() const;
  // Every key of the document as a dotted path, tables included ("retrieval", "retrieval.fresh",
  // "retrieval.fresh.half_life_days"), sorted.
  std::vector<std::string> KeyPaths() const;
  // The document re-serialized without the top-level key `key` (its comments are lost).
  std::string TextWithout(std::string_view key) const;
  const std::string& source_name() const;

 private:
  struct Impl;
  explicit TomlDocument(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend class TomlTableReader;
};

// Reads the keys of one table. Each method leaves *out untouched when the key is absent (the
// field keeps its default) and records the key as known; Done() then refuses every other key.
class TomlTableReader {
 public:
  Status Bool(std::string_view key, bool* out);
  Status Number(std::string_view key, double* out, NumberRange range = {});
  // Integers; a float with an integral value (5.0) is accepted too.
  template <typename T>
  Status Int(std::string_view key, T* out, IntRange range = {}) {
    range.min = std::max<int64_t>(range.min, TypeMin<T>());
    range.max = std::min<int64_t>(range.max, TypeMax<T>());
    int64_t v = 0;
    bool found = false;
    FUNNEL_RETURN_IF_ERROR(ReadInt(key, range, IntRange{TypeMin<T>(), TypeMax<T>()}, &v, &found));
    if (found) *out = static_cast<T>(v);
    return absl::OkStatus();
  }
  Status String(std::string_view key, std::string* out);
  // A string that must be one of `choices`; an other one is "unknown <what> 'x'; known: ...".
  Status Choice(std::string_view key, std::string_view what, const std::vector<std::string>& choices,
                std::string* out);
  Status StringList(std::string_view key, std::vector<std::string>* out);  // may be empty
  Status NumberList(std::string_view key, std::vector<double>* out);       // non-empty
  // A non-empty array of names, each one of `known` ("unknown <what> 'x'; known: ...").
  Status Names(std::string_view key, std::string_view what, const std::vector<std::string>& known,
               std::vector<std::string>* out);
  // A table of name = number whose names are free (event type weights); merged into *out.
  Status NumberTable(std::string_view key, std::map<std::string, double, std::less<>>* out);
  // A sub-table (an empty one when absent); its keys are checked by its own Done().
  StatusOr<TomlTableReader> Table(std::string_view key);
  // A key another stage reads and checks (so not one of KnownKeys()).
  void Known(std::string_view key);
  // Refuses the first key of the table that no call above named.
  Status Done() const;

  // Every key this reader and the sub-readers made from it read (or looked for), as dotted
  // paths: what the parser accepts, for tests that hold the writer to it.
  std::vector<std::string> KnownKeys() const { return {log_->begin(), log_->end()}; }

 private:
  friend class TomlDocument;
  TomlTableReader(std::shared_ptr<const TomlDocument::Impl> doc, const void* table, std::string prefix,
                  std::shared_ptr<std::set<std::string>> log);
  template <typename T>
  static constexpr int64_t TypeMin() {
    return std::is_signed_v<T> ? static_cast<int64_t>(std::numeric_limits<T>::min()) : 0;
  }
  template <typename T>
  static constexpr int64_t TypeMax() {
    return static_cast<int64_t>(std::min<uint64_t>(std::numeric_limits<T>::max(),
                                                   std::numeric_limits<int64_t>::max()));
  }
  Status ReadInt(std::string_view key, IntRange range, IntRange type, int64_t* out, bool* found);
  const void* Find(std::string_view key);

  std::shared_ptr<const TomlDocument::Impl> doc_;
  // The toml++ table, or nullptr for an absent one; void keeps toml++ out of this header.
  const void* table_;
  std::string prefix_;  // "retrieval.quotas." for [retrieval.quotas]
  std::set<std::string> seen_;
  std::shared_ptr<std::set<std::string>> log_;  // shared with sub-readers
};

// Writes one table, in the order of the calls, for the TOML a TomlTableReader reads back to the
// same values (numbers in their shortest exact form). Same signatures as the reader, so one
// templated function serves both; ranges and choices are the reader's business and ignored here.
class TomlTableWriter {
 public:
  // `path` is the table's dotted name ("retrieval"); "" for the top level.
  explicit TomlTableWriter(std::string path = "");

  Status Bool(std::string_view key, const bool* v);
  Status Number(std::string_view key, const double* v, NumberRange = {});
  template <typename T>
  Status Int(std::string_view key, const T* v, IntRange = {}) {
    return Raw(key, std::to_string(*v));
  }
  Status String(std::string_view key, const std::string* v);
  Status Choice(std::string_view key, std::string_view, const std::vector<std::string>&, const std::string* v) {
    return String(key, v);
  }
  Status StringList(std::string_view key, const std::vector<std::string>* v);
  Status NumberList(std::string_view key, const std::vector<double>* v);
  Status Names(std::string_view key, std::string_view, const std::vector<std::string>&,
               const std::vector<std::string>* v) {
    return StringList(key, v);
  }
  Status NumberTable(std::string_view key, const std::map<std::string, double, std::less<>>* v);
  // Sub-tables are written after this table's own keys, whenever they were added.
  StatusOr<TomlTableWriter> Table(std::string_view key);
  void Known(std::string_view) {}
  Status Done() const { return absl::OkStatus(); }

  // This table, with its [header] unless it is the top level, then its sub-tables.
  std::string Text() const;

 private:
  struct Node;
  explicit TomlTableWriter(std::shared_ptr<Node> node) : node_(std::move(node)) {}
  Status Raw(std::string_view key, std::string value);
  std::shared_ptr<Node> node_;
};

}  // namespace funnel
