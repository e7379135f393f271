// What an import did, and the bookkeeping every importer shares: rejected records (counted,
// the first few kept for the summary, all of them written to a rejects file when asked) and a
// progress line on a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "funnel/core/status.h"

namespace funnel::events {

// A name an import met, how often, and for an unknown field the one it probably meant.
struct NameCount {
  std::string name;
  uint64_t count = 0;
  std::string hint;  // JSON Lines unknown fields: a known field it may be a typo of, or ""
};

struct ImportReport {
  std::string source;
  uint64_t lines = 0;       // input lines read (blank lines included)
  uint64_t accepted = 0;    // records newly stored
  uint64_t duplicates = 0;  // records already stored, skipped (idempotent re-import)
  uint64_t rejected = 0;    // records refused, each with an error
  std::vector<std::string> first_errors;  // "source:line: message", at most kKeptErrors
  // Over the records parsed without error (duplicates included), most frequent first:
  // event types that are not standard (a typo shows here), and fields the format does not
  // know (ignored, so producers may add their own; a misspelt field shows here).
  std::vector<NameCount> nonstandard_types;
  std::vector<NameCount> unknown_fields;
  double seconds = 0;

  static constexpr size_t kKeptErrors = 20;
  // Records read: every non-blank line, stored, duplicate or rejected.
  uint64_t records() const { return accepted + duplicates + rejected; }
  // Adds another file's report (for multi-file imports such as MovieLens).
  void Merge(const ImportReport& other);
};

// Called after each durable commit: every record up to and including input line
// `committed_through_line` of `source` is stored (or was a duplicate or rejected).
using CommitCallback = std::function<void(const std::string& source, uint64_t committed_through_line,
                                          const ImportReport& so_far)>;

struct ImportOptions {
  size_t batch_size = 20000;   // records per durable commit
  std::string rejects_path;    // when set, rejected lines are appended here as JSON Lines
  bool progress = false;       // draw a progress line on stderr (only when it is a terminal)
  CommitCallback on_commit;
};

// Collects rejected records. Not thread-safe.
class RejectLog {
 public:
  // Opens the rejects file (appending) when a path is given.
  static StatusOr<RejectLog> Open(const std::string& path);
  RejectLog(RejectLog&& other) noexcept;
  RejectLog& operator=(RejectLog&&) = delete;
  ~RejectLog();

  // Records a rejected line: `{"source":..,"line":..,"error":..,"record":..}` in the file
  // (docs/formats/json.md), the record byte-exact (`record_base64` beside it when it is not
  // UTF-8). `truncated`: `record` is only a part of the line (an over-long one).
  void Add(ImportReport& report, const std::string& source, uint64_t line, std::string_view error,
           std::string_view record, bool truncated = false);
  Status Close();

 private:
  explicit RejectLog(std::FILE* f) : file_(f) {}
  std::FILE* file_ = nullptr;
};

// Draws "events.jsonl  1.2M records  480k/s  63%  ETA 3s" on stderr when it is a terminal,
// at most 5 times a second. Not thread-safe.
class ProgressMeter {
 public:
  ProgressMeter(bool enabled, std::string label, uint64_t total_bytes);
  void Update(uint64_t bytes_done, uint64_t records);
  void Finish();

 private:
  bool enabled_;
  std::string label_;
  uint64_t total_bytes_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace funnel::events
