#include "funnel/core/json_writer.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <absl/strings/escaping.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

namespace funnel {
namespace {

using ::testing::HasSubstr;

// Ids a hostile or broken producer can send: every class of byte the rules name.
std::vector<std::string> HostileStrings() {
  std::vector<std::string> out = {
      "",
      "plain",
      "quote\"inside",
      "back\\slash\\",
      "new\nline\r\n",
      "tab\there",
      std::string("nul\0byte", 8),
      "\x01\x02\x1f\x7f",
      "\b\f",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",  // valid 2, 3 and 4 byte sequences
      "</script>",
      "\"}\n{\"user\":\"injected\"}",
      std::string(100000, 'x') + "\"\\\n",
  };
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  out.push_back(all_bytes);
  return out;
}

// Ill-formed sequences, each with what the rule turns it into.
struct Invalid {
  std::string in, want;
};
std::vector<Invalid> InvalidUtf8() {
  const std::string r = "\xef\xbf\xbd";  // U+FFFD
  return {
      {"\xff", r},
      {"a\xc3", "a" + r},                          // truncated 2-byte sequence
      {"\xc0\xaf", r + r},                         // overlong '/'
      {"\xe0\x80\xaf", r + r + r},                 // overlong 3-byte
      {"\xed\xa0\x80", r + r + r},                 // a UTF-16 surrogate
      {"\xf4\x90\x80\x80", r + r + r + r},         // above U+10FFFF
      {"\xe2\x82", r + r},                         // truncated 3-byte sequence
      {"\xe9t\xe9", r + "t" + r},                  // Latin-1 "été"
      {"ok\x80\xc3\xa9", "ok" + r + "\xc3\xa9"},   // stray continuation, then a valid one
  };
}

simdjson::dom::element Parse(simdjson::dom::parser& parser, std::string_view json) {
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json.data(), json.size()).get(doc), simdjson::SUCCESS) << json.substr(0, 200);
  return doc;
}

TEST(JsonWriterTest, HostileStringsRoundTripExactlyAsKeysAndValues) {
  simdjson::dom::parser parser;
  for (const std::string& s : HostileStrings()) {
    const std::string want = ToValidUtf8(s);
    JsonWriter w;
    w.StartObject().Key(s).String(s).EndObject();
    EXPECT_TRUE(w.complete());
    EXPECT_TRUE(simdjson::validate_utf8(w.text().data(), w.text().size()));
    EXPECT_EQ(w.text().find('\n'), std::string_view::npos);  // one line, whatever the id holds
    simdjson::dom::object obj;
    ASSERT_EQ(Parse(parser, w.text()).get(obj), simdjson::SUCCESS);
    size_t fields = 0;
    for (auto [key, value] : obj) {
      ++fields;
      EXPECT_EQ(std::string(key), want);
      EXPECT_EQ(std::string(value.get_string().value()), want);
    }
    EXPECT_EQ(fields, 1u);
  }
}

TEST(JsonWriterTest, EmptyStringsWithoutStorageAreWrittenAsEmpty) {
  // A default string_view has no storage (nullptr): an empty dead-letter payload is one.
  JsonWriter w;
  w.StartObject();
  w.Key("a").String(std::string_view());
  w.Key("b").String("");
  w.EndObject();
  EXPECT_EQ(w.text(), R"({"a":"","b":""})");
}

TEST(JsonWriterTest, ValidUtf8StringsAreWrittenUnchanged) {
  for (const std::string& s : HostileStrings()) {
    if (!simdjson::validate_utf8(s.data(), s.size())) continue;
    EXPECT_TRUE(IsValidUtf8(s));
    EXPECT_EQ(ToValidUtf8(s), s);
  }
}

TEST(JsonWriterTest, EachInvalidUtf8ByteBecomesOneReplacementCharacter) {
  simdjson::dom::parser parser;
  for (const Invalid& c : InvalidUtf8()) {
    EXPECT_FALSE(IsValidUtf8(c.in)) << absl::CEscape(c.in);
    EXPECT_EQ(ToValidUtf8(c.in), c.want) << absl::CEscape(c.in);
    JsonWriter w;
    w.StartArray().String(c.in).EndArray();
    simdjson::dom::array a;
    ASSERT_EQ(Parse(parser, w.text()).get(a), simdjson::SUCCESS);
    EXPECT_EQ(std::string(a.at(0).get_string().value()), c.want);
  }
}

TEST(JsonWriterTest, UtfValidationAgreesWithSimdjsonOnRandomBytes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 8, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? rng() % 0x80 : 0x80 + rng() % 0x80);
    ASSERT_EQ(IsValidUtf8(s), simdjson::validate_utf8(s.data(), s.size())) << absl::CEscape(s);
    const std::string fixed = ToValidUtf8(s);
    ASSERT_TRUE(simdjson::validate_utf8(fixed.data(), fixed.size())) << absl::CEscape(s);
  }
}

TEST(JsonWriterTest, ControlCharactersUseShortOrUnicodeEscapes) {
  JsonWriter w;
  w.String(std::string("\"\\\b\f\n\r\t\x01\x1f\0", 10));
  EXPECT_EQ(w.text(), R"("\"\\\b\f\n\r\t\u0001\u001F\u0000")");
}

TEST(JsonWriterTest, DoublesAreShortestAndReadBackExactly) {
  simdjson::dom::parser parser;
  const double values[] = {0.0, -0.0, 1.0, 0.1, 1.0 / 3, 1700000074.994, 2.5e-308, 4.9e-324,
                           std::numeric_limits<double>::max(), -123456789.125, 9007199254740993.0 * 16, 1e21, 14.4};
  JsonWriter w;
  w.StartArray();
  for (double v : values) w.Double(v);
  w.EndArray();
  simdjson::dom::array a;
  ASSERT_EQ(Parse(parser, w.text()).get(a), simdjson::SUCCESS);
  size_t i = 0;
  for (simdjson::dom::element e : a) {
    double back = 0;
    ASSERT_EQ(e.get(back), simdjson::SUCCESS);
    EXPECT_EQ(back, values[i]);
    EXPECT_EQ(std::signbit(back), std::signbit(values[i]));
    ++i;
  }
  EXPECT_EQ(i, std::size(values));
  EXPECT_THAT(w.text(), HasSubstr("[0,-0.0,1,0.1,0.3333333333333333,1700000074.994,"));
  EXPECT_THAT(w.text(), HasSubstr(",1e+21,14.4]"));
}

TEST(JsonWriterTest, RandomDoublesRoundTripThroughSimdjson) {
  simdjson::dom::parser parser;
  std::mt19937_64 rng(11);
  JsonWriter w;
  std::vector<double> values;
  w.StartArray();
  while (values.size() < 10000) {
    const uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, sizeof(v));
    if (!std::isfinite(v)) continue;
    values.push_back(v);
    w.Double(v);
  }
  w.EndArray();
  simdjson::dom::array a;
  ASSERT_EQ(Parse(parser, w.text()).get(a), simdjson::SUCCESS);
  size_t i = 0;
  for (simdjson::dom::element e : a) {
    double back = 0;
    ASSERT_EQ(e.get(back), simdjson::SUCCESS);
    ASSERT_EQ(back, values[i]) << i;
    ++i;
  }
}

TEST(JsonWriterTest, FloatsUseTheShortestFormOfTheFloat) {
  JsonWriter w;
  w.StartArray().Float(0.1f).Float(-2.5f).Float(3e-5f).EndArray();
  EXPECT_EQ(w.text(), "[0.1,-2.5,3e-05]");
}

TEST(JsonWriterTest, FixedWritesTheExactDecimalThatDoubleWould) {
  const std::pair<int64_t, int> cases[] = {{1700000074994, 3}, {1700000074990, 3}, {1700000074000, 3},
                                           {144, 1}, {20, 1}, {-5, 1}, {0, 3}, {INT64_MIN, 3}};
  for (const auto& [units, decimals] : cases) {
    JsonWriter fixed;
    fixed.Fixed(units, decimals);
    if (units != INT64_MIN) {
      JsonWriter dbl;
      dbl.Double(static_cast<double>(units) / std::pow(10.0, decimals));
      EXPECT_EQ(fixed.text(), dbl.text()) << units;
    }
  }
  JsonWriter w;
  w.Fixed(INT64_MIN, 3);
  EXPECT_EQ(w.text(), "-9223372036854775.808");
}

TEST(JsonWriterTest, NanAndInfinitiesAreWrittenAsNull) {
  JsonWriter w;
  w.StartObject()
      .Key("nan").Double(std::nan(""))
      .Key("inf").Double(std::numeric_limits<double>::infinity())
      .Key("-inf").Float(-std::numeric_limits<float>::infinity())
      .EndObject();
  EXPECT_EQ(w.text(), R"({"nan":null,"inf":null,"-inf":null})");
}

TEST(JsonWriterTest, IntegersAreExactAtTheirLimits) {
  JsonWriter w;
  w.StartArray().Int(INT64_MIN).Int(INT64_MAX).Uint(UINT64_MAX).Bool(true).Null().EndArray();
  EXPECT_EQ(w.text(), "[-9223372036854775808,9223372036854775807,18446744073709551615,true,null]");
}

TEST(JsonWriterTest, EndLineSeparatesJsonLinesRecordsAndClearStartsOver) {
  JsonWriter w;
  w.StartObject().Key("a").Int(1).EndObject();
  w.EndLine();
  w.StartObject().Key("b").Int(2).EndObject();
  w.EndLine();
  EXPECT_EQ(w.text(), "{\"a\":1}\n{\"b\":2}\n");
  w.Clear();
  w.StartArray().EndArray();
  EXPECT_EQ(w.text(), "[]");
}

TEST(JsonWriterTest, RecordFieldsKeepInvalidBytesRecoverableInBase64) {
  simdjson::dom::parser parser;
  for (const std::string& s : HostileStrings()) {
    JsonWriter w;
    w.StartObject();
    WriteRecordFields(w, "record", s);
    w.EndObject();
    simdjson::dom::element doc = Parse(parser, w.text());
    std::string_view record, base64;
    ASSERT_EQ(doc["record"].get(record), simdjson::SUCCESS);
    EXPECT_EQ(std::string(record), ToValidUtf8(s));
    if (IsValidUtf8(s)) {
      EXPECT_NE(doc["record_base64"].get(base64), simdjson::SUCCESS);  // only when needed
    } else {
      ASSERT_EQ(doc["record_base64"].get(base64), simdjson::SUCCESS);
      std::string bytes;
      ASSERT_TRUE(absl::Base64Unescape(absl::string_view(base64.data(), base64.size()), &bytes));
      EXPECT_EQ(bytes, s);
    }
  }
}

TEST(JsonWriterTest, JsonQuotedIsOneStringLiteral) {
  EXPECT_EQ(JsonQuoted("a\"b\n\xff"), "\"a\\\"b\\n\xef\xbf\xbd\"");
}

}  // namespace
}  // namespace funnel
