#include "funnel/events/import_report.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "funnel/core/json_writer.h"

namespace funnel::events {

void ImportReport::Merge(const ImportReport& other) {
  lines += other.lines;
  accepted += other.accepted;
  duplicates += other.duplicates;
  rejected += other.rejected;
  seconds += other.seconds;
  for (const auto& e : other.first_errors)
    if (first_errors.size() < kKeptErrors) first_errors.push_back(e);
  auto merge = [](std::vector<NameCount>& into, const std::vector<NameCount>& from) {
    for (const NameCount& n : from) {
      auto it = std::find_if(into.begin(), into.end(), [&](const NameCount& m) { return m.name == n.name; });
      if (it == into.end()) into.push_back(n);
      else it->count += n.count;
    }
    std::stable_sort(into.begin(), into.end(), [](const NameCount& a, const NameCount& b) { return a.count > b.count; });
  };
  merge(nonstandard_types, other.nonstandard_types);
  merge(unknown_fields, other.unknown_fields);
}

StatusOr<RejectLog> RejectLog::Open(const std::string& path) {
  if (path.empty()) return RejectLog(nullptr);
  // "-": standard output, through a duplicate so closing the log leaves stdout open.
  std::FILE* f = path == "-" ? ::fdopen(::dup(STDOUT_FILENO), "w") : std::fopen(path.c_str(), "ae");
  if (f == nullptr)
    return absl::InvalidArgumentError(
        Cat("cannot open rejects file ", path, ": ", std::strerror(errno)));
  return RejectLog(f);
}

RejectLog::RejectLog(RejectLog&& other) noexcept : file_(other.file_) { other.file_ = nullptr; }

RejectLog::~RejectLog() {
  if (file_) std::fclose(file_);
}

void RejectLog::Add(ImportReport& report, const std::string& source, uint64_t line,
                    std::string_view error, std::string_view record, bool truncated) {
  ++report.rejected;
  if (report.first_errors.size() < ImportReport::kKeptErrors)
    report.first_errors.push_back(Cat(source, ":", line, ": ", error));
  if (file_ == nullptr) return;
  JsonWriter w;
  w.StartObject().Key("source").String(source).Key("line").Uint(line).Key("error").String(error);
  WriteRecordFields(w, "record", record);
  if (truncated) w.Key("truncated").Bool(true);
  w.EndObject();
  w.EndLine();
  std::fwrite(w.text().data(), 1, w.size(), file_);
}

Status RejectLog::Close() {
  if (file_ == nullptr) return absl::OkStatus();
  bool ok = std::fflush(file_) == 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  return ok ? absl::OkStatus() : absl::InternalError("cannot write the rejects file");
}

ProgressMeter::ProgressMeter(bool enabled, std::string label, uint64_t total_bytes)
    : enabled_(enabled && isatty(STDERR_FILENO)),
      label_(std::move(label)),
      total_bytes_(total_bytes),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressMeter::Update(uint64_t bytes_done, uint64_t records) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? records / secs : 0;
  std::string line = fmt::format("\r{}  {} records  {:.0f}/s", label_, records, rate);
  if (total_bytes_ > 0 && bytes_done > 0) {
    double frac = std::min(1.0, double(bytes_done) / double(total_bytes_));
    double eta = secs / frac - secs;
    line += fmt::format("  {:.0f}%  ETA {:.0f}s", frac * 100, eta);
  }
  line += "   ";
  std::fputs(line.c_str(), stderr);
}

void ProgressMeter::Finish() {
  if (enabled_) std::fputs("\r\033[K", stderr);
}

}  // namespace funnel::events
