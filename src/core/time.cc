#include "funnel/core/time.h"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace funnel {

std::string FormatUtc(Timestamp t) {
  std::time_t secs = static_cast<std::time_t>(t.micros() / 1000000);
  if (t.micros() < 0 && t.micros() % 1000000 != 0) --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

StatusOr<Timestamp> ParseTime(std::string_view text) {
  double secs = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), secs);
  if (ec == std::errc() && ptr == text.data() + text.size()) {
    if (!Timestamp::IsRepresentableSeconds(secs))
      return absl::InvalidArgumentError(Cat("time ", text, " is out of range (Unix seconds)"));
    return Timestamp::FromSeconds(secs);
  }
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char tail[8] = {0};
  std::string copy(text);
  int n = std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%7s", &y, &mo, &d, &h, &mi, &s, tail);
  bool date_only = n == 3 && copy.size() == 10;
  bool full = n >= 6 && (n == 6 || std::string_view(tail) == "Z");
  if (!(date_only || full) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return absl::InvalidArgumentError(
        Cat("cannot read time '", text, "': use Unix seconds or 2023-11-20 or 2023-11-20T12:00:00Z"));
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return Timestamp::FromMicros(static_cast<int64_t>(timegm(&tm)) * 1000000);
}

}  // namespace funnel
