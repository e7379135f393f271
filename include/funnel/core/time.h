// Time in Funnel is an argument, never read from the wall clock for logic (docs/design.md, principle 2).
// Timestamps are integer microseconds since the Unix epoch so they order exactly and encode
// into sortable keys; the JSON contract carries fractional seconds.
// Thread-safety: Timestamp is a value type; FormatUtc and ParseTime are pure and reentrant.
#pragma once

#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "funnel/core/status.h"

namespace funnel {

class Timestamp {
 public:
  constexpr Timestamp() = default;
  static constexpr Timestamp FromMicros(int64_t micros) { return Timestamp(micros); }
  // Rounds to the nearest microsecond. The caller validates the range (IsRepresentableSeconds).
  static Timestamp FromSeconds(double seconds) {
    return Timestamp(static_cast<int64_t>(std::llround(seconds * 1e6)));
  }
  static constexpr Timestamp Min() { return Timestamp(std::numeric_limits<int64_t>::min()); }
  static constexpr Timestamp Max() { return Timestamp(std::numeric_limits<int64_t>::max()); }

  // Accepted event times: 1970-01-01 up to 2200-01-01, so a typo in milliseconds is caught.
  static constexpr double kMaxSeconds = 7258118400.0;
  static bool IsRepresentableSeconds(double s) { return std::isfinite(s) && s >= 0 && s < kMaxSeconds; }

  constexpr int64_t micros() const { return micros_; }
  constexpr double seconds() const { return static_cast<double>(micros_) / 1e6; }

  constexpr auto operator<=>(const Timestamp&) const = default;

 private:
  constexpr explicit Timestamp(int64_t micros) : micros_(micros) {}
  int64_t micros_ = 0;
};

// ISO-8601 UTC, e.g. "1997-09-20T03:05:10Z"; for reports and logs.
std::string FormatUtc(Timestamp t);

// Reads a time given on a command line, the one parser of every command: Unix seconds
// ("1700000000.5"), a date ("2023-11-20", midnight UTC), or an RFC 3339 date-time with an offset,
// fractional seconds and 'T' or a space ("2023-11-20T12:00:00Z", "2023-11-20 13:00:00.25+01:00");
// a date-time without an offset is UTC. Impossible dates (2023-02-30) and leap seconds are
// refused with the reason, never normalized; times outside 1970..2200 are out of range.
StatusOr<Timestamp> ParseTime(std::string_view text);

}  // namespace funnel
