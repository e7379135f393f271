#include <fmt/format.h>

#include "funnel/events/import_report.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>


namespace funnel::events {

void ImportReport::Merge(const ImportReport& other) {
  lines += other.lines;
  accepted += other.accepted;
  duplicates += other.duplicates;
  rejected += other.rejected;
  seconds += other.seconds;
  for (const auto& e : other.first_errors)
    if (first_errors.size() < kKeptErrors) first_errors.push_back(e);
}

StatusOr<RejectLog> RejectLog::Open(const std::string& path) {
  if (path.empty()) return RejectLog(nullptr);
  std::FILE* f = std::fopen(path.c_str(), "ae");
  if (f == nullptr)
    return absl::InvalidArgumentError(
        Cat("cannot open rejects file ", path, ": ", std::strerror(errno)));
  return RejectLog(f);
}

RejectLog::RejectLog(RejectLog&& other) noexcept : file_(other.file_) { other.file_ = nullptr; }

RejectLog::~RejectLog() {
  if (file_) std::fclose(file_);
}

namespace {
// JSON string escaping for the rejects file; records may hold any bytes, so control characters
// and invalid UTF-8 are escaped rather than copied.
void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x80) out += fmt::format("\\u{:04x}", c);
        else out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}
}  // namespace

void RejectLog::Add(ImportReport& report, const std::string& source, uint64_t line,
                    std::string_view error, std::string_view record) {
  ++report.rejected;
  if (report.first_errors.size() < ImportReport::kKeptErrors)
    report.first_errors.push_back(Cat(source, ":", line, ": ", error));
  if (file_ == nullptr) return;
  std::string out = "{\"source\":";
  AppendJsonString(out, source);
  out += Cat(",\"line\":", line, ",\"error\":");
  AppendJsonString(out, error);
  out += ",\"record\":";
  AppendJsonString(out, record.substr(0, 4096));
  out += "}\n";
  std::fwrite(out.data(), 1, out.size(), file_);
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
