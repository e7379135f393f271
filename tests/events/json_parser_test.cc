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
  EXPECT_THAT(ErrorOf(R"({"user":true,"item":"i","type":"t","ts":1})"),
              HasSubstr("field \"user\": expected a string or an integer id, got boolean"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"t","ts":1,"value":"5"})"),
              HasSubstr("field \"value\": expected a number, got string"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":"t","ts":1,"context":[1]})"),
              HasSubstr("field \"context\": expected an object, got array"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":["i"],"type":"t","ts":1})"),
              HasSubstr("field \"item\": expected a string or an integer id, got array"));
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

TEST_F(JsonParserTest, IntegerIdsAreReadAsTheirDecimalText) {
  ASSERT_TRUE(Parse(R"({"user":42,"item":7,"type":"click","ts":1,"id":123456789012345,"request_id":-3})").ok());
  EXPECT_EQ(event_.user, "42");
  EXPECT_EQ(event_.item, "7");
  EXPECT_EQ(event_.id, "123456789012345");
  EXPECT_EQ(event_.request_id, "-3");
  ASSERT_TRUE(Parse(R"({"user":18446744073709551615,"item":"7","type":"click","ts":1})").ok());
  EXPECT_EQ(event_.user, "18446744073709551615");
  Event text;
  ASSERT_TRUE(parser_.ParseEventCopy(R"({"user":"42","item":"7","type":"click","ts":1})", &text).ok());
  ASSERT_TRUE(Parse(R"({"user":42,"item":7,"type":"click","ts":1})").ok());
  EXPECT_EQ(text.DedupeKey(), event_.DedupeKey());  // 42 and "42" are one id
}

TEST_F(JsonParserTest, NonIntegerAndBooleanIdsAreRefusedNamingTheField) {
  EXPECT_THAT(ErrorOf(R"({"user":1.5,"item":"i","type":"t","ts":1})"),
              HasSubstr("field \"user\": expected a string or an integer id, got a number with a fraction or an exponent (1.5)"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":1e3,"type":"t","ts":1})"),
              HasSubstr("field \"item\": expected a string or an integer id, got a number with a fraction or an exponent (1000)"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":false,"type":"t","ts":1})"),
              HasSubstr("field \"item\": expected a string or an integer id, got boolean"));
  EXPECT_THAT(ErrorOf(R"({"user":"u","item":"i","type":7,"ts":1})"),
              HasSubstr("field \"type\": expected a string, got number"));
}

TEST_F(JsonParserTest, StandardTypesMatchWithoutRegardToCaseOthersAreKeptAsWritten) {
  for (const char* t : {"Like", "LIKE", "like", "lIkE"}) {
    ASSERT_TRUE(Parse(Cat(R"({"user":"u","item":"i","type":")", t, R"(","ts":1})")).ok()) << t;
    EXPECT_EQ(event_.type, "like") << t;
  }
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"Add_To_Cart","ts":1})").ok());
  EXPECT_EQ(event_.type, "add_to_cart");
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"WishList","ts":1})").ok());
  EXPECT_EQ(event_.type, "WishList");
}

TEST_F(JsonParserTest, UnknownFieldsAndNonStandardTypesOfAcceptedRecordsAreCounted) {
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"lkie","ts":1,"timestamp":5})").ok());
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"lkie","ts":1,"timestamp":5,"x":1})").ok());
  ASSERT_TRUE(Parse(R"({"user":"u","item":"i","type":"Like","ts":1})").ok());
  EXPECT_FALSE(Parse(R"({"user":"u","item":"i","type":"nope","ts":"x","other":1})").ok());
  using Counts = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(parser_.NonstandardTypes(), (Counts{{"lkie", 2}}));
  EXPECT_EQ(parser_.UnknownFields(), (Counts{{"timestamp", 2}, {"x", 1}}));
}

TEST(JsonParserHintTest, SuggestsTheFieldAnUnknownOneProbablyMeant) {
  EXPECT_EQ(JsonParser::SuggestField("category", RecordKind::kItem), "categories");
  EXPECT_EQ(JsonParser::SuggestField("categries", RecordKind::kItem), "categories");
  EXPECT_EQ(JsonParser::SuggestField("timestamp", RecordKind::kEvent), "ts");
  EXPECT_EQ(JsonParser::SuggestField("time", RecordKind::kEvent), "ts");
  EXPECT_EQ(JsonParser::SuggestField("user_id", RecordKind::kEvent), "user");
  EXPECT_EQ(JsonParser::SuggestField("userId", RecordKind::kUser), "user");
  EXPECT_EQ(JsonParser::SuggestField("item_id", RecordKind::kEvent), "item");
  EXPECT_EQ(JsonParser::SuggestField("event", RecordKind::kEvent), "type");
  EXPECT_EQ(JsonParser::SuggestField("event_type", RecordKind::kEvent), "type");
  EXPECT_EQ(JsonParser::SuggestField("Type", RecordKind::kEvent), "type");
  EXPECT_EQ(JsonParser::SuggestField("category", RecordKind::kEvent), "");  // events have none
  EXPECT_EQ(JsonParser::SuggestField("device", RecordKind::kEvent), "");
  EXPECT_EQ(JsonParser::SuggestField("xy", RecordKind::kEvent), "");  // two letters from ts and id
}

TEST(JsonParserItemTest, EventFedAsAnItemOrUserIsRefusedSayingWhatToDo) {
  JsonParser parser{ImportConfig{}};
  Item item;
  Status s = parser.ParseItemCopy(R"({"user":"u1","item":"v1","type":"click","ts":1700000000})", &item);
  // "ts" is an item field too (its creation time), so it is no sign of an event here.
  EXPECT_EQ(s.message(), R"(looks like an event (it has "user" and "type"): use funnel import events)");
  // Even when a field of the event does not fit an item: being an event is the real problem.
  s = parser.ParseItemCopy(R"({"user":"u1","item":"v1","type":"click","ts":"2023-11-14"})", &item);
  EXPECT_THAT(s.message(), HasSubstr("looks like an event"));
  s = parser.ParseItemCopy(R"({"item":"v1","type":"click"})", &item);
  EXPECT_EQ(s.message(), R"(looks like an event (it has "type"): use funnel import events)");
  // A custom "type" beside an item's own fields is an item's attribute-like extra field.
  EXPECT_TRUE(parser.ParseItemCopy(R"({"item":"v1","type":"movie","categories":["drama"]})", &item).ok());

  User user;
  s = parser.ParseUserCopy(R"({"user":"u1","item":"v1","type":"like","ts":1})", &user);
  EXPECT_EQ(s.message(), R"(looks like an event (it has "item", "type" and "ts"): use funnel import events)");
  s = parser.ParseUserCopy(R"({"user":"u1","type":"like"})", &user);
  EXPECT_THAT(s.message(), HasSubstr("looks like an event"));
  EXPECT_TRUE(parser.ParseUserCopy(R"({"user":"u1","type":"premium","attributes":{"age":3}})", &user).ok());
}

TEST(JsonParserItemTest, FieldsSayWhatTheRecordCarriesAndNullMeansClear) {
  JsonParser parser{ImportConfig{}};
  Item item;
  ASSERT_TRUE(parser.ParseItemCopy(R"({"item":7,"creator":"c5"})", &item).ok());
  EXPECT_EQ(item.item, "7");
  EXPECT_EQ(item.fields, kFieldCreator);
  ASSERT_TRUE(parser.ParseItemCopy(R"({"item":"v1","ts":null,"categories":null,"attributes":{"a":null}})", &item).ok());
  EXPECT_EQ(item.fields, kFieldTs | kFieldCategories | kFieldAttributes);
  EXPECT_FALSE(item.ts.has_value());
  EXPECT_TRUE(item.categories.empty());
  EXPECT_EQ(item.attributes, R"({"a":null})");
  ASSERT_TRUE(parser.ParseItemCopy(R"({"item":"v1","attributes":null})", &item).ok());
  EXPECT_EQ(item.fields, kFieldAttributes);
  EXPECT_TRUE(item.attributes.empty());
  Status s = parser.ParseItemCopy(R"({"item":null})", &item);
  EXPECT_THAT(s.message(), HasSubstr("field \"item\": is required and must not be null"));

  User user;
  ASSERT_TRUE(parser.ParseUserCopy(R"({"user":42})", &user).ok());
  EXPECT_EQ(user.user, "42");
  EXPECT_EQ(user.fields, 0);
  ASSERT_TRUE(parser.ParseUserCopy(R"({"user":"u","attributes":null})", &user).ok());
  EXPECT_EQ(user.fields, kFieldAttributes);
}

}  // namespace
}  // namespace funnel::events
