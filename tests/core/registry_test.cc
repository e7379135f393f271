#include "funnel/core/registry.h"

#include <functional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace funnel {
namespace {

using ::testing::ElementsAre;
using Make = std::function<int()>;

TEST(RegistryTest, FindReturnsTheFactoryRegisteredUnderTheName) {
  Registry<Make> r("thing");
  ASSERT_TRUE(r.Add("one", [] { return 1; }).ok());
  ASSERT_TRUE(r.Add("two", [] { return 2; }).ok());
  auto two = r.Find("two");
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ((**two)(), 2);
  EXPECT_TRUE(r.Contains("one"));
  EXPECT_FALSE(r.Contains("three"));
}

TEST(RegistryTest, ADuplicateNameIsRefusedAndTheFirstFactoryKept) {
  Registry<Make> r("thing");
  ASSERT_TRUE(r.Add("one", [] { return 1; }).ok());
  Status again = r.Add("one", [] { return 11; });
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(MessageOf(again), "thing 'one' is registered twice");
  EXPECT_EQ((**r.Find("one"))(), 1);
  EXPECT_THAT(r.Names(), ElementsAre("one"));
}

TEST(RegistryTest, AnUnknownNameAnswersWithTheKindAndEveryKnownNameInRegistrationOrder) {
  Registry<Make> r("retriever");
  for (const char* name : {"ials", "covisit", "popular", "fresh"}) ASSERT_TRUE(r.Add(name, [] { return 0; }).ok());
  auto missing = r.Find("ials2");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MessageOf(missing.status()), "unknown retriever 'ials2'; known: ials, covisit, popular, fresh");
  EXPECT_THAT(r.Names(), ElementsAre("ials", "covisit", "popular", "fresh"));
}

TEST(RegistryTest, AnEmptyRegistryAnswersWithAnEmptyKnownList) {
  Registry<Make> r("ranker");
  EXPECT_EQ(MessageOf(r.Find("gbdt").status()), "unknown ranker 'gbdt'; known: ");
  EXPECT_TRUE(r.Names().empty());
}

}  // namespace
}  // namespace funnel
