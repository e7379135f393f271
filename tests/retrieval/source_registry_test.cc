#include "funnel/retrieval/source_registry.h"

#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace funnel::retrieval {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SourceRegistryTest, BuiltinSourcesAreTheSixKindsInTheirDocumentedOrder) {
  EXPECT_THAT(BuiltinSources().Names(), ElementsAre("popular", "trending", "fresh", "covisit", "ials", "ease"));
}

TEST(SourceRegistryTest, AnUnknownNameAnswersWithTheKnownOnes) {
  auto s = BuiltinSources().Load("ials2", "/nonexistent");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MessageOf(s.status()),
            "unknown retrieval source 'ials2'; known: popular, trending, fresh, covisit, ials, ease");
}

TEST(SourceRegistryTest, AddingTheBuiltinsTwiceIsRefused) {
  SourceRegistry r = BuiltinSources();
  Status again = AddBuiltinSources(r);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(MessageOf(again)), HasSubstr("'popular'"));
}

// A program can register its own source next to (or instead of) the built-ins: the name in a
// manifest picks the loader, and the loader gets that name.
TEST(SourceRegistryTest, ARegisteredLoaderIsCalledWithTheNameAndDirectory) {
  SourceRegistry r;
  std::string seen_name, seen_dir;
  ASSERT_TRUE(r.Add("mine", [&](std::string_view name, const std::string& dir) -> StatusOr<std::shared_ptr<const Source>> {
                 seen_name = std::string(name);
                 seen_dir = dir;
                 return absl::NotFoundError("nothing saved");
               }).ok());
  auto s = r.Load("mine", "/some/bundle");
  EXPECT_TRUE(absl::IsNotFound(s.status())) << s.status();
  EXPECT_EQ(seen_name, "mine");
  EXPECT_EQ(seen_dir, "/some/bundle");
  EXPECT_EQ(MessageOf(r.Load("popular", "/x").status()), "unknown retrieval source 'popular'; known: mine");
}

}  // namespace
}  // namespace funnel::retrieval
