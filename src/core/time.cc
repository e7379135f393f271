#include "funnel/core/time.h"

#include <array>
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

namespace {

// Hand-written rather than sscanf + timegm: those normalize 2023-02-30 to March 2 without a word,
// know no offsets and read the process's time zone; a date a user mistyped must be refused.

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse of H. Hinnant).
int64_t DaysFromCivil(int y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool Done() const { return pos_ == s_.size(); }
  char Peek() const { return Done() ? '\0' : s_[pos_]; }
  bool Eat(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  // Exactly n decimal digits.
  bool Digits(int n, int* out) {
    int v = 0;
    for (int i = 0; i < n; ++i) {
      char c = Peek();
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
      ++pos_;
    }
    *out = v;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

constexpr const char* kForms =
    "use Unix seconds (1700000000.5), a date (2023-11-20) or an RFC 3339 date-time "
    "(2023-11-20T12:00:00Z, 2023-11-20T12:00:00.250+01:00)";

Status Unreadable(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(Cat("cannot read time '", text, "': ", why, "; ", kForms));
}

}  // namespace

StatusOr<Timestamp> ParseTime(std::string_view text) {
  double secs = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), secs);
  if (ec == std::errc() && ptr == text.data() + text.size()) {
    if (!Timestamp::IsRepresentableSeconds(secs))
      return absl::InvalidArgumentError(Cat("time ", text, " is out of range: Unix seconds from 0 to ",
                                            Timestamp::kMaxSeconds, " (1970 to 2200)"));
    return Timestamp::FromSeconds(secs);
  }
  Cursor c(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!c.Digits(4, &y) || !c.Eat('-') || !c.Digits(2, &mo) || !c.Eat('-') || !c.Digits(2, &d))
    return Unreadable(text, "expected a number or a date YYYY-MM-DD");
  if (mo < 1 || mo > 12) return Unreadable(text, Cat("month ", mo, " does not exist"));
  if (d < 1 || d > DaysInMonth(y, mo))
    return Unreadable(text, Cat(y, "-", text.substr(5, 2), " has ", DaysInMonth(y, mo), " days, not ", d));
  int64_t micros_of_day = 0;
  int64_t offset_seconds = 0;
  if (!c.Done()) {
    // RFC 3339 allows a space for the T and lower-case t and z.
    if (!(c.Eat('T') || c.Eat('t') || c.Eat(' ')))
      return Unreadable(text, Cat("unexpected '", text.substr(c.pos()), "' after the date"));
    if (!c.Digits(2, &h) || !c.Eat(':') || !c.Digits(2, &mi) || !c.Eat(':') || !c.Digits(2, &s))
      return Unreadable(text, "expected the time of day as HH:MM:SS");
    if (h > 23 || mi > 59) return Unreadable(text, Cat("time of day ", text.substr(11, 5), " does not exist"));
    if (s == 60) return Unreadable(text, "a leap second (:60) has no Unix time");
    if (s > 59) return Unreadable(text, Cat("second ", s, " does not exist"));
    int64_t frac_micros = 0;
    if (c.Eat('.')) {
      int digits = 0;
      int round_digit = 0;
      while (c.Peek() >= '0' && c.Peek() <= '9') {
        int v = c.Peek() - '0';
        if (digits < 6) frac_micros = frac_micros * 10 + v;
        else if (digits == 6) round_digit = v;
        ++digits;
        c.Eat(c.Peek());
      }
      if (digits == 0) return Unreadable(text, "expected digits after the decimal point");
      for (int i = digits; i < 6; ++i) frac_micros *= 10;
      if (round_digit >= 5) ++frac_micros;  // to the nearest microsecond, as Unix seconds are
    }
    micros_of_day = ((h * 60 + mi) * 60 + s) * int64_t{1000000} + frac_micros;
    // No offset: UTC, as the date-only form (README: "Time is an argument").
    if (c.Eat('Z') || c.Eat('z')) {
    } else if (c.Peek() == '+' || c.Peek() == '-') {
      int sign = c.Peek() == '-' ? -1 : 1;
      c.Eat(c.Peek());
      int oh = 0, om = 0;
      if (!c.Digits(2, &oh) || !c.Eat(':') || !c.Digits(2, &om))
        return Unreadable(text, "expected the offset as +HH:MM or -HH:MM");
      if (oh > 23 || om > 59) return Unreadable(text, "the offset is out of range");
      offset_seconds = sign * (oh * 3600 + om * 60);
    }
    if (!c.Done()) return Unreadable(text, Cat("unexpected '", text.substr(c.pos()), "' at the end"));
  }
  const int64_t micros =
      (DaysFromCivil(y, mo, d) * 86400 - offset_seconds) * int64_t{1000000} + micros_of_day;
  if (micros < 0 || micros >= static_cast<int64_t>(Timestamp::kMaxSeconds) * 1000000)
    return absl::InvalidArgumentError(Cat("time ", text, " is out of range: 1970 to 2200"));
  return Timestamp::FromMicros(micros);
}

}  // namespace funnel
