#include "funnel/events/jsonl_importer.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <span>
#include <vector>

#include "funnel/events/json_parser.h"

namespace funnel::events {

namespace {

constexpr size_t kChunkBytes = 8 << 20;

// Reads a stream in large chunks and hands out whole lines that stay readable for
// JsonParser::kPadding bytes past their end, so simdjson can parse them in place.
class LineReader {
 public:
  LineReader(std::FILE* f, size_t max_line) : file_(f), max_line_(max_line) {
    buf_.resize(kChunkBytes + max_line_ + JsonParser::kPadding);
  }

  // Next line without its newline; false at end of input.
  // `*too_long` is set for a line over max_line, whose content is then not returned whole.
  bool Next(std::string_view* line, bool* too_long) {
    *too_long = false;
    for (;;) {
      const char* begin = buf_.data() + pos_;
      const char* nl = static_cast<const char*>(std::memchr(begin, '\n', end_ - pos_));
      if (nl != nullptr) {
        size_t n = nl - begin;
        *line = std::string_view(begin, n);
        pos_ += n + 1;
        ++line_no_;
        if (skipping_) {  // tail of an over-long line
          skipping_ = false;
          *too_long = true;
        }
        return true;
      }
      if (eof_) {
        if (pos_ == end_) return false;
        *line = std::string_view(begin, end_ - pos_);
        pos_ = end_;
        ++line_no_;
        *too_long = skipping_;
        skipping_ = false;
        return true;
      }
      if (end_ - pos_ > max_line_) {  // no newline within the limit: drop what we have
        skipping_ = true;
        pos_ = end_ = 0;
      }
      Fill();
    }
  }

  uint64_t line_no() const { return line_no_; }
  uint64_t bytes_read() const { return bytes_read_; }
  bool failed() const { return error_ != 0; }
  int error() const { return error_; }
  size_t readable_after(std::string_view line) const {
    return buf_.data() + buf_.size() - (line.data() + line.size());
  }

 private:
  void Fill() {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
    size_t room = buf_.size() - JsonParser::kPadding - end_;
    size_t n = std::fread(buf_.data() + end_, 1, room, file_);
    end_ += n;
    bytes_read_ += n;
    if (n < room) {
      eof_ = true;
      if (std::ferror(file_)) error_ = errno ? errno : EIO;
    }
    std::memset(buf_.data() + end_, ' ', JsonParser::kPadding);
  }

  std::FILE* file_;
  size_t max_line_;
  std::vector<char> buf_;
  size_t pos_ = 0, end_ = 0;
  bool eof_ = false, skipping_ = false;
  int error_ = 0;
  uint64_t line_no_ = 0, bytes_read_ = 0;
};

template <typename Record>
Status ParseRecord(JsonParser& parser, std::string_view line, size_t readable_after, Record* out) {
  if constexpr (std::is_same_v<Record, Event>) return parser.ParseEvent(line, readable_after, out);
  else if constexpr (std::is_same_v<Record, Item>) return parser.ParseItem(line, readable_after, out);
  else return parser.ParseUser(line, readable_after, out);
}

template <typename Record>
StatusOr<AppendResult> Store(RecordSink& sink, std::span<const Record> batch) {
  if constexpr (std::is_same_v<Record, Event>) {
    return sink.Append(batch);
  } else {
    Status s;
    if constexpr (std::is_same_v<Record, Item>) s = sink.UpsertItems(batch);
    else s = sink.UpsertUsers(batch);
    if (!s.ok()) return s;
    AppendResult r;
    r.accepted = batch.size();
    return r;
  }
}

template <typename Record>
constexpr RecordKind KindOf() {
  if constexpr (std::is_same_v<Record, Event>) return RecordKind::kEvent;
  else if constexpr (std::is_same_v<Record, Item>) return RecordKind::kItem;
  else return RecordKind::kUser;
}

void AddTallies(const JsonParser& parser, RecordKind kind, ImportReport* report) {
  for (auto& [name, count] : parser.NonstandardTypes()) report->nonstandard_types.push_back({name, count, ""});
  for (auto& [name, count] : parser.UnknownFields())
    report->unknown_fields.push_back({name, count, std::string(JsonParser::SuggestField(name, kind))});
}

template <typename Record>
StatusOr<ImportReport> Run(std::FILE* f, const std::string& source, uint64_t total_bytes,
                           RecordSink& sink, const ImportConfig& limits,
                           const ImportOptions& options) {
  auto start = std::chrono::steady_clock::now();
  ImportReport report;
  report.source = source;
  FUNNEL_ASSIGN_OR_RETURN(RejectLog rejects, RejectLog::Open(options.rejects_path));
  JsonParser parser(limits);
  LineReader reader(f, limits.max_line_bytes);
  ProgressMeter progress(options.progress, source, total_bytes);
  const size_t batch_size = std::max<size_t>(1, options.batch_size);

  // Two batches: one being parsed while the other commits. Their records are reused from one
  // batch to the next (only the first `*_size` are live), so the strings keep their capacity
  // instead of being allocated again for every record.
  std::vector<Record> parsing, committing;
  size_t parsing_size = 0, committing_size = 0;
  uint64_t parsing_last_line = 0;
  std::future<StatusOr<AppendResult>> pending;
  uint64_t pending_last_line = 0;

  auto finish_pending = [&]() -> Status {
    if (!pending.valid()) return absl::OkStatus();
    StatusOr<AppendResult> r = pending.get();
    if (!r.ok()) return r.status();
    report.accepted += r->accepted;
    report.duplicates += r->duplicates;
    if (options.on_commit) options.on_commit(source, pending_last_line, report);
    return absl::OkStatus();
  };
  auto start_commit = [&]() -> Status {
    FUNNEL_RETURN_IF_ERROR(finish_pending());
    std::swap(parsing, committing);
    committing_size = parsing_size;
    parsing_size = 0;
    pending_last_line = parsing_last_line;
    pending = std::async(std::launch::async, [&sink, &committing, &committing_size] {
      return Store(sink, std::span<const Record>(committing.data(), committing_size));
    });
    return absl::OkStatus();
  };

  std::string_view line;
  bool too_long = false;
  while (reader.Next(&line, &too_long)) {
    ++report.lines;
    if (too_long) {
      rejects.Add(report, source, reader.line_no(),
                  Cat("line is longer than the limit of ", limits.max_line_bytes, " bytes"),
                  line.substr(0, 256), /*truncated=*/true);
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Windows tools often start UTF-8 files with a byte-order mark; it is not part of the JSON.
    if (reader.line_no() == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank line
    if (parsing_size == parsing.size()) parsing.emplace_back();
    Status s = ParseRecord(parser, line, reader.readable_after(line), &parsing[parsing_size]);
    if (!s.ok()) {
      rejects.Add(report, source, reader.line_no(), MessageOf(s), line);
      continue;
    }
    ++parsing_size;
    parsing_last_line = reader.line_no();
    if (parsing_size >= batch_size) {
      FUNNEL_RETURN_IF_ERROR(start_commit());
      progress.Update(reader.bytes_read(), report.accepted + report.duplicates);
    }
  }
  if (reader.failed())
    return absl::DataLossError(Cat(source, ": read error after line ", reader.line_no(),
                                            ": ", std::strerror(reader.error())));
  parsing_last_line = reader.line_no();
  if (parsing_size > 0) FUNNEL_RETURN_IF_ERROR(start_commit());
  FUNNEL_RETURN_IF_ERROR(finish_pending());
  FUNNEL_RETURN_IF_ERROR(sink.Flush());
  FUNNEL_RETURN_IF_ERROR(rejects.Close());
  progress.Finish();
  AddTallies(parser, KindOf<Record>(), &report);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace

StatusOr<ImportReport> ImportJsonLines(const std::string& path, RecordKind kind, RecordSink& sink,
                                       const ImportConfig& limits, const ImportOptions& options) {
  std::FILE* f = nullptr;
  std::string source = path;
  uint64_t total_bytes = 0;
  if (path == "-") {
    f = stdin;
    source = "<stdin>";
  } else {
    f = std::fopen(path.c_str(), "rbe");
    if (f == nullptr)
      return absl::NotFoundError(Cat("cannot open ", path, ": ", std::strerror(errno)));
    struct stat st {};
    if (fstat(fileno(f), &st) == 0) {
      if (S_ISDIR(st.st_mode)) {
        std::fclose(f);
        return absl::InvalidArgumentError(Cat(path, " is a directory, not a JSON Lines file"));
      }
      total_bytes = static_cast<uint64_t>(st.st_size);
    }
  }
  StatusOr<ImportReport> r;
  switch (kind) {
    case RecordKind::kEvent: r = Run<Event>(f, source, total_bytes, sink, limits, options); break;
    case RecordKind::kItem: r = Run<Item>(f, source, total_bytes, sink, limits, options); break;
    case RecordKind::kUser: r = Run<User>(f, source, total_bytes, sink, limits, options); break;
  }
  if (f != stdin) std::fclose(f);
  return r;
}

}  // namespace funnel::events
