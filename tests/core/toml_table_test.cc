// The config reader's checks and messages, and the writer reading back to the same values.
#include "funnel/core/toml_table.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace funnel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The [t] table of `text`, from a file named t.toml.
TomlTableReader TableT(const std::string& text) {
  StatusOr<TomlDocument> doc = TomlDocument::Parse(text, "t.toml");
  EXPECT_TRUE(doc.ok()) << doc.status();
  StatusOr<TomlTableReader> t = doc->Root().Table("t");
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

std::string Message(const Status& s) { return std::string(MessageOf(s)); }

TEST(TomlTableReaderTest, AbsentKeysLeaveDefaults) {
  TomlTableReader t = TableT("");
  int i = 7;
  double d = 0.5;
  std::string s = "x";
  std::vector<double> v = {1};
  EXPECT_TRUE(t.Int("i", &i).ok());
  EXPECT_TRUE(t.Number("d", &d).ok());
  EXPECT_TRUE(t.String("s", &s).ok());
  EXPECT_TRUE(t.NumberList("v", &v).ok());
  EXPECT_TRUE(t.Done().ok());
  EXPECT_EQ(i, 7);
  EXPECT_EQ(d, 0.5);
  EXPECT_EQ(s, "x");
  EXPECT_THAT(v, ElementsAre(1));
}

TEST(TomlTableReaderTest, NegativeIntegerErrorNamesFileLineKeyAndValue) {
  TomlTableReader t = TableT("[t]\n\nn = -5\n");
  size_t n = 3;
  EXPECT_EQ(Message(t.Int("n", &n, kNonNegative)), "t.toml:3: key 't.n': expected a non-negative integer, got -5");
  EXPECT_EQ(n, 3u);
}

TEST(TomlTableReaderTest, WrongTypeShowsTheValueFound) {
  TomlTableReader t = TableT("[t]\nn = \"lots\"\nb = 1\nl = [1, \"x\"]\n");
  int n = 0;
  bool b = false;
  std::vector<double> l;
  EXPECT_EQ(Message(t.Int("n", &n)), "t.toml:2: key 't.n': expected an integer, got \"lots\"");
  EXPECT_EQ(Message(t.Bool("b", &b)), "t.toml:3: key 't.b': expected true or false, got 1");
  EXPECT_EQ(Message(t.NumberList("l", &l)), "t.toml:4: key 't.l': expected a non-empty array of numbers, got [1, \"x\"]");
}

TEST(TomlTableReaderTest, IntegerOutsideItsFieldsTypeIsRefused) {
  TomlTableReader t = TableT("[t]\nn = 99999999999\nu = -1\n");
  int n = 0;
  uint32_t u = 0;
  EXPECT_EQ(Message(t.Int("n", &n)), "t.toml:2: key 't.n': expected an integer <= 2147483647, got 99999999999");
  EXPECT_EQ(Message(t.Int("u", &u)), "t.toml:3: key 't.u': expected a non-negative integer, got -1");
}

TEST(TomlTableReaderTest, BoundedIntegerNamesItsRange) {
  TomlTableReader t = TableT("[t]\nf = 2000\n");
  int f = 0;
  EXPECT_EQ(Message(t.Int("f", &f, IntRange{.min = 1, .max = 1024})),
            "t.toml:2: key 't.f': expected an integer in 1..1024, got 2000");
}

TEST(TomlTableReaderTest, IntegralFloatIsAnIntegerAndAFractionIsNot) {
  TomlTableReader t = TableT("[t]\na = 5.0\nb = 5.5\n");
  int a = 0, b = 0;
  EXPECT_TRUE(t.Int("a", &a).ok());
  EXPECT_EQ(a, 5);
  EXPECT_EQ(Message(t.Int("b", &b)), "t.toml:3: key 't.b': expected an integer, got 5.5");
}

TEST(TomlTableReaderTest, NumberOutsideItsIntervalNamesIt) {
  TomlTableReader t = TableT("[t]\nf = 1\ng = -0.5\nh = nan\n");
  double f = 0, g = 0, h = 0;
  EXPECT_EQ(Message(t.Number("f", &f, NumberRange{.min = 0, .max = 1, .min_open = true, .max_open = true})),
            "t.toml:2: key 't.f': expected a number in (0, 1), got 1");
  EXPECT_EQ(Message(t.Number("g", &g, NumberRange{.min = 0})), "t.toml:3: key 't.g': expected a number >= 0, got -0.5");
  EXPECT_FALSE(t.Number("h", &h, NumberRange{.min = 0}).ok()) << "nan is in no interval";
  double unbounded = 0;
  EXPECT_TRUE(TableT("[t]\nh = nan\n").Number("h", &unbounded).ok());
  EXPECT_TRUE(std::isnan(unbounded));
}

TEST(TomlTableReaderTest, ChoiceOutsideTheKnownOnesNamesThem) {
  TomlTableReader t = TableT("[t]\nfusion = \"greedy\"\n");
  std::string fusion = "search";
  EXPECT_EQ(Message(t.Choice("fusion", "fusion", {"search", "logistic"}, &fusion)),
            "t.toml:2: key 't.fusion': unknown fusion 'greedy'; known: search, logistic");
}

TEST(TomlTableReaderTest, NamesRefuseAnEmptyListAndUnknownNames) {
  const std::vector<std::string> known = {"popular", "ials"};
  std::vector<std::string> out;
  EXPECT_EQ(Message(TableT("[t]\ns = []\n").Names("s", "source", known, &out)),
            "t.toml:2: key 't.s': expected a non-empty array of source names (known: popular, ials), got []");
  EXPECT_EQ(Message(TableT("[t]\ns = [\n  \"popular\",\n  \"ials2\",\n]\n").Names("s", "source", known, &out)),
            "t.toml:4: key 't.s': unknown source 'ials2'; known: popular, ials");
  EXPECT_TRUE(TableT("[t]\ns = [\"ials\"]\n").Names("s", "source", known, &out).ok());
  EXPECT_THAT(out, ElementsAre("ials"));
}

TEST(TomlTableReaderTest, UnknownKeyIsRefusedNamingTheKnownOnes) {
  TomlTableReader t = TableT("[t]\na = 1\ntypo = 2\n");
  int a = 0;
  t.Known("b");
  ASSERT_TRUE(t.Int("a", &a).ok());
  EXPECT_EQ(Message(t.Done()), "t.toml:3: unknown key 't.typo'; known here: a, b");
}

TEST(TomlTableReaderTest, SubTableThatIsNotATableIsRefused) {
  StatusOr<TomlDocument> doc = TomlDocument::Parse("t = 5\n", "t.toml");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(Message(doc->Root().Table("t").status()), "t.toml:1: key 't': expected a table, got 5");
}

TEST(TomlTableReaderTest, NumberTableMergesAndNamesABadEntry) {
  std::map<std::string, double, std::less<>> w = {{"like", 4}, {"skip", -1}};
  EXPECT_TRUE(TableT("[t.w]\nlike = 2\nbookmark = 3.5\n").NumberTable("w", &w).ok());
  EXPECT_EQ(w, (std::map<std::string, double, std::less<>>{{"bookmark", 3.5}, {"like", 2}, {"skip", -1}}));
  EXPECT_EQ(Message(TableT("[t.w]\nlike = \"x\"\n").NumberTable("w", &w)),
            "t.toml:2: key 't.w.like': expected a number, got \"x\"");
}

TEST(TomlTableReaderTest, KnownKeysListsWhatWasReadWithFullPaths) {
  StatusOr<TomlDocument> doc = TomlDocument::Parse("", "t.toml");
  ASSERT_TRUE(doc.ok());
  TomlTableReader root = doc->Root();
  bool b = false;
  ASSERT_TRUE(root.Bool("top", &b).ok());
  root.Known("elsewhere");
  StatusOr<TomlTableReader> sub = root.Table("sub");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(sub->Bool("inner", &b).ok());
  EXPECT_THAT(root.KnownKeys(), ElementsAre("sub", "sub.inner", "top"));
}

TEST(TomlDocumentTest, SyntaxErrorNamesFileLineAndColumn) {
  StatusOr<TomlDocument> doc = TomlDocument::Parse("[t]\na = = 3\n", "t.toml");
  ASSERT_FALSE(doc.ok());
  EXPECT_THAT(Message(doc.status()), HasSubstr("t.toml:2:"));
}

TEST(TomlDocumentTest, KeyPathsAndTextWithoutATable) {
  StatusOr<TomlDocument> doc = TomlDocument::Parse("a = 1\n[r]\nx = 2\n[r.s]\ny = 3\n[o]\nz = 4\n", "t.toml");
  ASSERT_TRUE(doc.ok());
  EXPECT_THAT(doc->KeyPaths(), ElementsAre("a", "o", "o.z", "r", "r.s", "r.s.y", "r.x"));
  StatusOr<TomlDocument> rest = TomlDocument::Parse(doc->TextWithout("r"), "rest.toml");
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_THAT(rest->KeyPaths(), ElementsAre("a", "o", "o.z"));
}

TEST(TomlTableWriterTest, NumbersReadBackExactlyAndStayFloats) {
  const std::vector<double> values = {0.1, 1.0 / 3, 600, 1e-300, 1e300, -0.0, -2.5, 0.123456789012345678};
  TomlTableWriter w("t");
  for (size_t i = 0; i < values.size(); ++i) ASSERT_TRUE(w.Number("n" + std::to_string(i), &values[i]).ok());
  EXPECT_THAT(w.Text(), HasSubstr("n2 = 600.0\n"));
  TomlTableReader t = TableT(w.Text());
  for (size_t i = 0; i < values.size(); ++i) {
    double got = 0;
    ASSERT_TRUE(t.Number("n" + std::to_string(i), &got).ok());
    EXPECT_EQ(got, values[i]) << i;
  }
  EXPECT_TRUE(t.Done().ok());
}

TEST(TomlTableWriterTest, QuotesKeysAndStringsThatNeedItAndReadsBack) {
  const std::string tricky = "a \"quoted\" \\ back\tslash\n";
  const std::map<std::string, double, std::less<>> weights = {{"add-to-cart", 3}, {"two words", 1}};
  TomlTableWriter w("t");
  ASSERT_TRUE(w.String("s", &tricky).ok());
  ASSERT_TRUE(w.NumberTable("w", &weights).ok());
  TomlTableReader t = TableT(w.Text());
  std::string s;
  std::map<std::string, double, std::less<>> back;
  ASSERT_TRUE(t.String("s", &s).ok());
  ASSERT_TRUE(t.NumberTable("w", &back).ok());
  EXPECT_EQ(s, tricky);
  EXPECT_EQ(back, weights);
}

TEST(TomlTableWriterTest, SubTablesFollowTheTablesOwnKeys) {
  TomlTableWriter w("r");
  const int a = 1, b = 2;
  StatusOr<TomlTableWriter> sub = w.Table("s");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(sub->Int("b", &b).ok());
  ASSERT_TRUE(w.Int("a", &a).ok());  // after the sub-table was started: still written above it
  EXPECT_EQ(w.Text(), "[r]\na = 1\n\n[r.s]\nb = 2\n");
}

}  // namespace
}  // namespace funnel
