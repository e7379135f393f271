// ParseTime: the one time parser of every command. Impossible dates are refused (they were
// normalized into the next month), RFC 3339 is read in full (offsets, fractions, Z).
#include "funnel/core/time.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace funnel {
namespace {

using ::testing::HasSubstr;

int64_t Micros(std::string_view text) {
  StatusOr<Timestamp> t = ParseTime(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status();
  return t.ok() ? t->micros() : -1;
}

std::string Error(std::string_view text) {
  StatusOr<Timestamp> t = ParseTime(text);
  EXPECT_FALSE(t.ok()) << text << " was accepted as " << (t.ok() ? FormatUtc(*t) : "");
  return t.ok() ? "" : std::string(t.status().message());
}

TEST(ParseTimeTest, UnixSecondsAndDates) {
  EXPECT_EQ(Micros("1700000000.5"), 1700000000500000);
  EXPECT_EQ(Micros("0"), 0);
  EXPECT_EQ(Micros("2023-11-20"), 1700438400LL * 1000000);
  EXPECT_EQ(Micros("1970-01-01"), 0);
  EXPECT_EQ(Micros("2024-02-29"), 1709164800LL * 1000000);  // a leap day
  EXPECT_EQ(Micros("2000-02-29"), 951782400LL * 1000000);   // divisible by 400: leap
}

TEST(ParseTimeTest, Rfc3339DateTimes) {
  const int64_t noon = 1700481600LL * 1000000;  // 2023-11-20T12:00:00Z
  EXPECT_EQ(Micros("2023-11-20T12:00:00Z"), noon);
  EXPECT_EQ(Micros("2023-11-20T12:00:00z"), noon);
  EXPECT_EQ(Micros("2023-11-20t12:00:00Z"), noon);
  EXPECT_EQ(Micros("2023-11-20 12:00:00Z"), noon);
  EXPECT_EQ(Micros("2023-11-20T12:00:00"), noon);  // no offset: UTC
  EXPECT_EQ(Micros("2023-11-20T13:00:00+01:00"), noon);
  EXPECT_EQ(Micros("2023-11-20T06:30:00-05:30"), noon);
  EXPECT_EQ(Micros("2023-11-20T12:00:00+00:00"), noon);
  EXPECT_EQ(Micros("2023-11-20T12:00:00-00:00"), noon);
  EXPECT_EQ(Micros("2023-11-20T12:00:00.5Z"), noon + 500000);
  EXPECT_EQ(Micros("2023-11-20T12:00:00.123456Z"), noon + 123456);
  EXPECT_EQ(Micros("2023-11-20T12:00:00.1234565Z"), noon + 123457);  // nearest microsecond
  EXPECT_EQ(Micros("2023-11-20T12:00:00.123456789+01:00"), noon - 3600LL * 1000000 + 123457);
  // An offset that crosses midnight and the year.
  EXPECT_EQ(Micros("2024-01-01T00:30:00+01:00"), Micros("2023-12-31T23:30:00Z"));
}

TEST(ParseTimeTest, ImpossibleDatesAreRefusedWithTheReason) {
  EXPECT_THAT(Error("2023-02-30"), HasSubstr("2023-02 has 28 days, not 30"));
  EXPECT_THAT(Error("2023-02-31"), HasSubstr("has 28 days"));
  EXPECT_THAT(Error("2023-02-29"), HasSubstr("has 28 days, not 29"));
  EXPECT_THAT(Error("1900-02-29"), HasSubstr("has 28 days"));  // divisible by 100: not leap
  EXPECT_THAT(Error("2023-04-31"), HasSubstr("has 30 days, not 31"));
  EXPECT_THAT(Error("2023-13-01"), HasSubstr("month 13 does not exist"));
  EXPECT_THAT(Error("2023-00-10"), HasSubstr("month 0 does not exist"));
  EXPECT_THAT(Error("2023-11-00"), HasSubstr("not 0"));
  EXPECT_THAT(Error("2023-11-20T24:00:00Z"), HasSubstr("does not exist"));
  EXPECT_THAT(Error("2023-11-20T12:60:00Z"), HasSubstr("does not exist"));
  EXPECT_THAT(Error("2023-11-20T12:00:61Z"), HasSubstr("second 61 does not exist"));
  EXPECT_THAT(Error("2016-12-31T23:59:60Z"), HasSubstr("leap second"));
  EXPECT_THAT(Error("2023-02-30T12:00:00Z"), HasSubstr("has 28 days"));
}

TEST(ParseTimeTest, MalformedTextSaysWhatIsAccepted) {
  for (std::string_view bad : {"", "yesterday", "2023-1-5", "2023/11/20", "2023-11-20T12:00Z",
                               "2023-11-20T12:00:00+0100", "2023-11-20T12:00:00+01",
                               "2023-11-20T12:00:00.Z", "2023-11-20T12:00:00ZZ", "2023-11-20X",
                               "2023-11-20T12:00:00 UTC", "nan", "inf"}) {
    std::string e = Error(bad);
    EXPECT_THAT(e, ::testing::AnyOf(HasSubstr("RFC 3339"), HasSubstr("out of range"))) << bad;
  }
  EXPECT_THAT(Error("2023-11-20T12:00:00+24:00"), HasSubstr("offset"));
}

TEST(ParseTimeTest, OutOfRange) {
  EXPECT_THAT(Error("-1"), HasSubstr("out of range"));
  EXPECT_THAT(Error("1700000000000"), HasSubstr("out of range"));  // milliseconds
  EXPECT_THAT(Error("1969-12-31"), HasSubstr("out of range"));
  EXPECT_THAT(Error("1970-01-01T00:30:00+01:00"), HasSubstr("out of range"));
  EXPECT_THAT(Error("2200-01-01"), HasSubstr("out of range"));
  EXPECT_EQ(Micros("2199-12-31T23:59:59Z"), (7258118400LL - 1) * 1000000);
}

TEST(ParseTimeTest, FormatReadsBack) {
  for (int64_t s : {0LL, 951782400LL, 1700481600LL, 4102444799LL}) {
    Timestamp t = Timestamp::FromMicros(s * 1000000);
    EXPECT_EQ(Micros(FormatUtc(t)), t.micros()) << FormatUtc(t);
  }
}

}  // namespace
}  // namespace funnel
