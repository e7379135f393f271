// Output that explains itself, through the real `funnel` binary: `features` prints categoricals
// as their values and rates without denominator events as missing, `features --list` describes
// each feature, counts read "1 feature" / "2 features", and `stats` (text and --json) shows
// what the store holds and which model serves.
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "support/funnel_process.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace funnel {
namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Describe;
using testing::Funnel;
using testing::ProcessResult;

// A hand-written data set, as a new user would write one: likes without impressions (the case
// that read as a 1.06 like rate), items with categories, creators and attributes, users with a
// string attribute.
class OutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string events;
    for (int i = 0; i < 5; ++i)
      events += R"({"user":"u1","item":"a","type":"like","ts":)" + std::to_string(1700000000 + 60 * i) + "}\n";
    events += R"({"user":"u2","item":"b","type":"impression","ts":1700000100})" "\n";
    events += R"({"user":"u2","item":"b","type":"like","ts":1700000200})" "\n";
    Import("events", events);
    Import("items", R"({"item":"a","ts":1690000000,"categories":["comedy","pets"],"creator":"studio9","attributes":{"duration":30,"year":2021}})" "\n"
                    R"({"item":"b","categories":["news"],"attributes":{"year":"unknown"}})" "\n");
    Import("users", R"({"user":"u1","attributes":{"gender":"F","age":31}})" "\n");
  }
  void Import(const std::string& kind, const std::string& text) {
    ProcessResult r = Funnel({"import", kind, dir_.Write(kind + ".jsonl", text), "--data", data_});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
  // The value column of one feature's line in `funnel features` output.
  static std::string ValueOf(const std::string& out, const std::string& name) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("\n  " + name + " +([^\n]*)"))) return "<no line for " + name + ">";
    return m[1];
  }

  testing::TempDir dir_;
  const std::string data_ = dir_ / "data";
};

TEST_F(OutputTest, FeaturesPrintsCategoricalFeaturesAsTheirValues) {
  ProcessResult r = Funnel({"features", "--data", data_, "--user", "u1", "--item", "a"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ValueOf(r.out, "item_category"), "comedy") << r.out;  // the first category
  EXPECT_EQ(ValueOf(r.out, "item_creator"), "studio9") << r.out;
  EXPECT_EQ(ValueOf(r.out, "user_gender"), "F") << r.out;
  EXPECT_EQ(ValueOf(r.out, "user_age"), "31") << r.out;    // numbers stay numbers
  EXPECT_EQ(ValueOf(r.out, "item_year"), "2021") << r.out;
  EXPECT_EQ(ValueOf(r.out, "item_duration"), "30") << r.out;

  ProcessResult b = Funnel({"features", "--data", data_, "--user", "u2", "--item", "b"});
  ASSERT_EQ(b.exit_code, 0) << Describe(b);
  EXPECT_EQ(ValueOf(b.out, "item_category"), "news") << b.out;
  EXPECT_EQ(ValueOf(b.out, "item_year"), "unknown") << b.out;  // a string attribute
  EXPECT_EQ(ValueOf(b.out, "item_creator"), "missing") << b.out;
  EXPECT_EQ(ValueOf(b.out, "user_gender"), "missing") << b.out;
}

TEST_F(OutputTest, FeaturesAtATimeSaysStaticFeaturesReadTheMetadataStoredNow) {
  ProcessResult r = Funnel({"features", "--data", data_, "--user", "u1", "--item", "a", "--at", "1700000030"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ValueOf(r.out, "item_category"), "comedy") << r.out;
  EXPECT_THAT(r.out, HasSubstr("metadata has no history")) << r.out;
}

TEST_F(OutputTest, RatesWithNoDenominatorEventsReadMissingNotAPrior) {
  ProcessResult r = Funnel({"features", "--data", data_, "--user", "u1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ValueOf(r.out, "user_like_rate_1d"), "missing (user_impressions_1d is 0)") << r.out;
  EXPECT_EQ(ValueOf(r.out, "user_like_rate_7d"), "missing (user_impressions_7d is 0)") << r.out;
  EXPECT_EQ(ValueOf(r.out, "user_skip_rate_1d"), "missing (user_impressions_1d is 0)") << r.out;
  EXPECT_THAT(ValueOf(r.out, "user_likes_1d"), ContainsRegex("^4\\.9")) << r.out;  // the likes are there

  // One impression makes it a smoothed rate again, which stays a rate.
  ProcessResult u2 = Funnel({"features", "--data", data_, "--user", "u2"});
  ASSERT_EQ(u2.exit_code, 0) << Describe(u2);
  const std::string rate = ValueOf(u2.out, "user_like_rate_1d");
  ASSERT_THAT(rate, ContainsRegex("^0\\.[0-9]+$")) << u2.out;
  EXPECT_NEAR(std::stod(rate), (1 + 0.1 * 5) / (1 + 5), 1e-3);
}

TEST_F(OutputTest, FeaturesListShowsEntityAggregationHorizonAndWeightedEventTypes) {
  const std::string cfg = dir_.Write("funnel.toml", R"(
[[features]]
name = "user_views_30m"
entity = "user"
aggregation = "count"
types = { view = 1.0 }
window = "30m"
[[features]]
name = "user_likes_1h"
entity = "user"
aggregation = "count"
types = { like = 1.0 }
half_life = "1h"
[[features]]
name = "user_like_rate_1h"
aggregation = "ratio"
numerator = "user_likes_1h"
denominator = "user_views_30m"
prior_mean = 0.1
prior_weight = 5.0
[[features]]
name = "user_genre_taste"
entity = "user_category"
aggregation = "sum"
types = { like = 3.0, skip = -1.0 }
half_life = "7d"
[[features]]
name = "item_category"
source = "item.category"
)");
  ProcessResult r = Funnel({"features", "--list", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::vector<std::string> lines;
  for (size_t at = 0, nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(r.out.substr(at, nl - at));
  ASSERT_EQ(lines.size(), 6u) << r.out;
  EXPECT_THAT(lines[0], ContainsRegex("^FEATURE +ENTITY +AGGREGATION +HORIZON +EVENTS +NOTES$"));
  EXPECT_THAT(lines[1], ContainsRegex("^user_views_30m +user +count +window 30m +view$"));
  EXPECT_THAT(lines[2], ContainsRegex("^user_likes_1h +user +count +half-life 1h +like$"));
  EXPECT_THAT(lines[3], ContainsRegex("^user_like_rate_1h +user +ratio +half-life 1h / window 30m +"
                                      "user_likes_1h / user_views_30m +smoothed toward 0.1 with weight 5; "
                                      "missing when user_views_30m is 0$"));
  EXPECT_THAT(lines[4], ContainsRegex("^user_genre_taste +user x category +sum +half-life 7d +like=3 skip=-1 +"
                                      "max over the item's categories$"));
  EXPECT_THAT(lines[5], ContainsRegex("^item_category +item +static +"));
  // Columns line up: every row's second column starts where the header's does.
  const size_t col = lines[0].find("ENTITY");
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_EQ(lines[i].find_first_not_of(' ', lines[i].find(' ')), col) << lines[i];

  ProcessResult shipped = Funnel({"features", "--list"});
  ASSERT_EQ(shipped.exit_code, 0) << Describe(shipped);
  EXPECT_THAT(shipped.out, ContainsRegex("\nuser_likes_7d +user +count +half-life 7d +like\n"));
  EXPECT_THAT(shipped.out, ContainsRegex("\nitem_impressions_1h +item +count +half-life 1h +impression\n"));
  EXPECT_THAT(shipped.out, ContainsRegex("\nglobal_likes_1d +global +count +half-life 1d +like\n"));
  EXPECT_THAT(shipped.out, Not(HasSubstr("24h")));
}

TEST_F(OutputTest, DatasetSummaryCountsOneAsOne) {
  const std::string cfg = dir_.Write("one.toml", R"(
[[features]]
name = "user_likes"
entity = "user"
aggregation = "count"
types = { like = 1.0 }
)");
  const std::string data = dir_ / "one";
  ProcessResult imp = Funnel({"import", "events", dir_.Write("one.jsonl", R"({"user":"u","item":"a","type":"like","ts":1700000000})" "\n"),
                              "--data", data});
  ASSERT_EQ(imp.exit_code, 0) << Describe(imp);
  ProcessResult r = Funnel({"features", "dataset", "--data", data, "--config", cfg, "--out", dir_ / "rows.tsv",
                            "--negatives", "0"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("1 row (0 impressions, 1 engagement, 0 negatives) x 1 feature from 1 event in")) << r.out;
}

TEST_F(OutputTest, StatsSaysWhenNoModelIsTrained) {
  ProcessResult r = Funnel({"stats", "--data", data_});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("\nmodel:  none (run funnel train)\n")) << r.out;
}

TEST_F(OutputTest, StatsJsonIsOneObjectWithCountsTimesSizeAndNoModel) {
  ProcessResult r = Funnel({"stats", "--data", data_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(r.out).get(root), simdjson::SUCCESS) << r.out;
  EXPECT_EQ(uint64_t(root["events"]["total"]), 7u);
  EXPECT_EQ(uint64_t(root["events"]["by_type"]["like"]), 6u);
  EXPECT_EQ(uint64_t(root["events"]["by_type"]["impression"]), 1u);
  EXPECT_EQ(uint64_t(root["users"]["total"]), 2u);
  EXPECT_EQ(uint64_t(root["users"]["with_attributes"]), 1u);
  EXPECT_EQ(uint64_t(root["items"]["total"]), 2u);
  EXPECT_EQ(uint64_t(root["items"]["with_metadata"]), 2u);
  EXPECT_EQ(std::string_view(root["first_event"]["rfc3339"]), "2023-11-14T22:13:20Z");
  EXPECT_EQ(double(root["first_event"]["unix_seconds"]), 1700000000.0);
  EXPECT_EQ(double(root["last_event"]["unix_seconds"]), 1700000240.0);
  EXPECT_GT(uint64_t(root["disk_bytes"]), 0u);
  EXPECT_TRUE(root["model"].is_null()) << r.out;
  EXPECT_EQ(std::string_view(root["data_dir"]), data_);
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "one line";
}

TEST(OutputModelTest, StatsShowsTheCurrentModelVersionAndCutoffInTextAndJson) {
  testing::TempDir dir;
  const std::string data = dir / "data", gen = dir / "gen";
  ProcessResult g = Funnel({"generate", "--out", gen, "--users", "60", "--items", "150", "--days", "2", "--seed", "4"});
  ASSERT_EQ(g.exit_code, 0) << Describe(g);
  for (const char* kind : {"items", "events"}) {
    ProcessResult r = Funnel({"import", kind, gen + "/" + kind + ".jsonl", "--data", data});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
  const std::string cfg = dir.Write("funnel.toml", "[retrieval]\nials_alphas = [8]\nials_regularizations = [32]\nease_lambdas = [400]\n");
  ProcessResult t = Funnel({"train", "--data", data, "--config", cfg, "--until", "2023-11-15T12:00:00Z"});
  ASSERT_EQ(t.exit_code, 0) << Describe(t);

  ProcessResult s = Funnel({"stats", "--data", data});
  ASSERT_EQ(s.exit_code, 0) << Describe(s);
  EXPECT_THAT(s.out, ContainsRegex("\nmodel:  v000001 \\(trained on [0-9,]+ events before 2023-11-15T12:00:00Z; "
                                   "[0-9]+ sources: [a-z, ]+\\)\n")) << s.out;

  ProcessResult j = Funnel({"stats", "--data", data, "--json"});
  ASSERT_EQ(j.exit_code, 0) << Describe(j);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(j.out).get(root), simdjson::SUCCESS) << j.out;
  EXPECT_EQ(std::string_view(root["model"]["version"]), "v000001");
  EXPECT_EQ(std::string_view(root["model"]["cutoff"]["rfc3339"]), "2023-11-15T12:00:00Z");
  EXPECT_EQ(double(root["model"]["cutoff"]["unix_seconds"]), 1700049600.0);
  EXPECT_EQ(root["model"]["trained_at"].error(), simdjson::NO_SUCH_FIELD) << "no field that is always null";
  EXPECT_GT(uint64_t(root["model"]["training_events"]), 0u);
  EXPECT_GT(simdjson::dom::array(root["model"]["sources"]).size(), 0u);
  simdjson::dom::element ranker;
  ASSERT_EQ(root["model"]["ranker"].get(ranker), simdjson::SUCCESS) << "the ranker or null";
  EXPECT_TRUE(ranker.is_null() || ranker.is_string());
  EXPECT_THAT(s.out, ContainsRegex("\nranker: (logistic|gbdt|lambdamart|none \\(the fusion's order serves\\))\n")) << s.out;
}

}  // namespace
}  // namespace funnel
