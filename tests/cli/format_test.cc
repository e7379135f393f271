// The CLI's formatting helpers: counts with their nouns, durations, aligned tables.
#include "cli/format.h"

#include <gtest/gtest.h>

namespace funnel::cli {
namespace {

TEST(FormatTest, CountIsSingularForExactlyOneAndPluralOtherwise) {
  EXPECT_EQ(Count(1, "event"), "1 event");
  EXPECT_EQ(Count(0, "event"), "0 events");
  EXPECT_EQ(Count(2, "fold"), "2 folds");
  EXPECT_EQ(Count(2000, "event"), "2,000 events");
  EXPECT_EQ(Count(1, "entry", "entries"), "1 entry");
  EXPECT_EQ(Count(3, "entry", "entries"), "3 entries");
}

TEST(FormatTest, ReadableDurationUsesTheLargestWholeUnit) {
  EXPECT_EQ(ReadableDuration(7 * 86400), "7d");
  EXPECT_EQ(ReadableDuration(86400), "1d");
  EXPECT_EQ(ReadableDuration(3600), "1h");
  EXPECT_EQ(ReadableDuration(1800), "30m");
  EXPECT_EQ(ReadableDuration(36 * 3600), "36h");
  EXPECT_EQ(ReadableDuration(5400), "90m");
  EXPECT_EQ(ReadableDuration(90), "90s");
  EXPECT_EQ(ReadableDuration(0.5), "0.5s");
}

TEST(FormatTest, AlignedTablePadsEveryColumnButTheLast) {
  EXPECT_EQ(AlignedTable({{"NAME", "KIND", "NOTES"}, {"a_long_name", "x", ""}, {"b", "count", "n"}}, "  "),
            "  NAME         KIND   NOTES\n"
            "  a_long_name  x\n"
            "  b            count  n\n");
}

}  // namespace
}  // namespace funnel::cli
