#include "funnel/events/json_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace funnel::events {
namespace {

using ::testing::HasSubstr;

class JsonParserTest : public ::testing::Test {
 protected:
  Status Parse(std::string_view line) { return parser_.ParseEventCopy(line, &event_); }
  std::string ErrorOf(std::string_view line) {
    Status s = Parse(line);
    EXPECT_FALSE(s.ok()) << "accepted: " << line;
    return std::string(s.message());
  }
  JsonParser parser_{ImportConfig{}};
  Event event_;
};

TEST_F(JsonParserTest, ParsesEveryContractField) {
  ASSERT_TRUE(Parse(R"({"user":"u1","item":"v9","type":"like","ts":1700000000.5,"value":1,)"
                    R"("id":"e-123","request_id":"r-7","context":{"device": "ios"}})").ok());
  EXPECT_EQ(event_.user, "u1");
  EXPECT_EQ(event_.item, "v9");
  EXPECT_EQ(event_.type, "like");
  EXPECT_EQ(event_.ts.micros(), 1700000000500000);
  EXPECT_EQ(event_.value, 1.0);
  EXPECT_EQ(event_.id, "e-123");
  EXPECT_EQ(event_.request_id, "r-7");
  EXPECT_EQ(event_.context, R"({"device":"ios"})");  // stored minified
}

TEST_F(JsonParserTest, OptionalFieldsMayBeAbsentOrNull) {
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"click","ts":1,"value":null,"id":null})").ok());
  EXPECT_FALSE(event_.value.has_value());
  EXPECT_TRUE(event_.id.empty());
  EXPECT_TRUE(event_.context.empty());
}

TEST_F(JsonParserTest, UnknownFieldsAndCustomTypesAreAccepted) {
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"bookmark_v2","ts":1,"extra":[1,2]})").ok());
  EXPECT_EQ(event_.type, "bookmark_v2");
}

TEST_F(JsonParserTest, MalformedJsonIsRejected) {
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":)"), HasSubstr("invalid JSON"));
  EXPECT_THAT(ErrorOf(R"({"user":"u" "item":"i"})"), HasSubstr("invalid JSON"));
  EXPECT_THAT(ErrorOf("not json"), HasSubstr("invalid JSON"));
}

TEST_F(JsonParserTest, NonObjectIsRejected) {
  EXPECT_THAT(ErrorOf(R"([1,2,3])"), HasSubstr("expected a JSON object, got array"));
  EXPECT_THAT(ErrorOf(R"("text")"), HasSubstr("expected a JSON object, got string"));
}

TEST_F(JsonParserTest, TrailingContentIsRejected) {
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"t","ts":1} {"a":1})"), HasSubstr("invalid JSON"));
}

TEST_F(JsonParserTest, MissingRequiredFieldIsNamed) {
  EXPECT_THAT(ErrorOf(R"({"item":"i","type":"t","ts":1})"), HasSubstr("missing required field \"user\""));
  EXPECT_THAT(ErrorOf(R"({"user":"u","type":"t","ts":1})"), HasSubstr("missing required field \"item\""));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","ts":1})"), HasSubstr("missing required field \"type\""));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"t"})"), HasSubstr("missing required field \"ts\""));
}

TEST_F(JsonParserTest, WrongTypesAreNamedWithWhatWasFound) {
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"t","ts":"yesterday"})"),
              HasSubstr("field \"ts\": expected a number, got string"));
  EXPECT_THAT(ErrorOf(R"({"user":7,"item":"i","type":"t","ts":1})"),
              HasSubstr("field \"user\": expected a string, got number"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"t","ts":1,"value":"5"})"),
              HasSubstr("field \"value\": expected a number, got string"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"t","ts":1,"context":[1]})"),
              HasSubstr("field \"context\": expected an object, got array"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":["i"],"type":"t","ts":1})"),
              HasSubstr("field \"item\": expected a string, got array"));
}

TEST_F(JsonParserTest, BadValuesAreExplained) {
  EXPECT_THAT(ErrorOf(R"({"user":"","item":"i","type":"t","ts":1})"), HasSubstr("must not be empty"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"t","ts":-5})"), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"t","ts":1700000000000})"),
              HasSubstr("milliseconds?"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"a b","ts":1})"), HasSubstr("not a valid type"));
  std::string long_id(300, 'x');
  EXPECT_THAT(ErrorOf(R"({"user":")" + long_id + R"(","item":"i","type":"t","ts":1})"),
              HasSubstr("longer than the limit of 256"));
}

TEST_F(JsonParserTest, DuplicateFieldIsRejected) {
  EXPECT_THAT(ErrorOf(R"({"user":"u","user":"v","item":"i","type":"t","ts":1})"),
              HasSubstr("duplicate field \"user\""));
}

TEST_F(JsonParserTest, InvalidUtf8IsRejected) {
  EXPECT_THAT(ErrorOf("{\"user\":\"\xff\xfe\",\"item\":\"i\",\"type\":\"t\",\"ts\":1}"),
              HasSubstr("invalid JSON"));
}

TEST_F(JsonParserTest, DedupeKeyUsesIdWhenPresentElseContent) {
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"t","ts":1,"id":"e1"})").ok());
  Event a = event_;
  ASSERT_TRUE(Parse(R"({"user":"x","item":"y","type":"t","ts":2,"id":"e1"})").ok());
  EXPECT_EQ(a.DedupeKey(), event_.DedupeKey());

  ASSERT_TRUE(Parse(R"({"ts":1,"type":"t","item":"i","user":"u"})").ok());
  Event b = event_;
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"t","ts":1.0})").ok());
  EXPECT_EQ(b.DedupeKey(), event_.DedupeKey());  // field order and number spelling don't matter
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"t","ts":1.000001})").ok());
  EXPECT_NE(b.DedupeKey(), event_.DedupeKey());
}

TEST(JsonParserItemTest, ParsesItemsAndRejectsBadCategories) {
  JsonParser parser{ImportConfig{}};
  Item item;
  ASSERT_TRUE(parser.ParseItemCopy(R"({"item":"v9","ts":1690000000,"categories":["comedy","pets"],)"
                                   R"("creator":"c4","attributes":{"duration":31}})", &item).ok());
  EXPECT_EQ(item.item, "v9");
  ASSERT_TRUE(item.ts.has_value());
  EXPECT_EQ(item.ts->micros(), int64_t{1690000000} * 1000000);
  EXPECT_EQ(item.categories, (std::vector<std::string>{"comedy", "pets"}));
  EXPECT_EQ(item.creator, "c4");
  EXPECT_EQ(item.attributes, R"({"duration":31})");

  Status s = parser.ParseItemCopy(R"({"item":"v9","categories":"comedy"})", &item);
  EXPECT_THAT(s.message(), HasSubstr("field \"categories\": expected an array of strings, got string"));
  s = parser.ParseItemCopy(R"({"item":"v9","categories":["a",3]})", &item);
  EXPECT_THAT(s.message(), HasSubstr("field \"categories[]\": expected a string, got number"));
  s = parser.ParseItemCopy(R"({"categories":["a"]})", &item);
  EXPECT_THAT(s.message(), HasSubstr("missing required field \"item\""));
}

}  // namespace
}  // namespace funnel::events
