#include "funnel/core/json_merge_patch.h"

#include <gtest/gtest.h>

namespace funnel {
namespace {

TEST(JsonMergePatchTest, FollowsTheRfc7396Examples) {
  // RFC 7396 appendix A, the rows whose target and patch are objects.
  EXPECT_EQ(MergePatch(R"({"a":"b"})", R"({"a":"c"})"), R"({"a":"c"})");
  EXPECT_EQ(MergePatch(R"({"a":"b"})", R"({"b":"c"})"), R"({"a":"b","b":"c"})");
  EXPECT_EQ(MergePatch(R"({"a":"b"})", R"({"a":null})"), "");  // {} is stored as none
  EXPECT_EQ(MergePatch(R"({"a":"b","b":"c"})", R"({"a":null})"), R"({"b":"c"})");
  EXPECT_EQ(MergePatch(R"({"a":["b"]})", R"({"a":"c"})"), R"({"a":"c"})");
  EXPECT_EQ(MergePatch(R"({"a":"c"})", R"({"a":["b"]})"), R"({"a":["b"]})");
  EXPECT_EQ(MergePatch(R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})"), R"({"a":{"b":"d"}})");
  EXPECT_EQ(MergePatch(R"({"a":[{"b":"c"}]})", R"({"a":[1]})"), R"({"a":[1]})");
  EXPECT_EQ(MergePatch(R"({"e":null})", R"({"a":1})"), R"({"e":null,"a":1})");
  EXPECT_EQ(MergePatch("", R"({"a":{"bb":{"ccc":null}}})"), R"({"a":{"bb":{}}})");
}

TEST(JsonMergePatchTest, NestedObjectsMergeAndUntouchedValuesKeepTheirValue) {
  EXPECT_EQ(MergePatch(R"({"duration":31,"size":{"w":640,"h":480},"score":0.1})",
                       R"({"size":{"h":720},"lang":"de"})"),
            R"({"duration":31,"size":{"w":640,"h":720},"score":0.1,"lang":"de"})");
  EXPECT_EQ(MergePatch(R"({"a":1})", "{}"), R"({"a":1})");
  EXPECT_EQ(MergePatch("not json", R"({"a":1})"), R"({"a":1})");
}

}  // namespace
}  // namespace funnel
