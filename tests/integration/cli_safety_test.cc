// The mistakes of a user's first hour, through the real binary (issue #14): impossible dates
// are refused by every command that takes a time, RFC 3339 is read in full; `funnel demo`
// never clears a store it did not make; `ingest kafka` with no broker gives up in a bounded
// time, saying why once; `train` on a handful of validation users says it did not tune.
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/funnel_process.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace funnel {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Describe;
using testing::Funnel;
using testing::ProcessResult;

// Ten users who each like a few of twelve items over two days.
std::string TinyEvents() {
  std::string s;
  for (int u = 0; u < 10; ++u)
    for (int k = 0; k < 5; ++k)
      s += "{\"user\":\"u" + std::to_string(u) + "\",\"item\":\"i" + std::to_string((u + 3 * k) % 12) +
           "\",\"type\":\"like\",\"ts\":" + std::to_string(1700000000 + u * 3600 + k * 17000) + "}\n";
  return s;
}

class CliSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "data";
    ProcessResult imp = Funnel({"import", "events", dir_.Write("events.jsonl", TinyEvents()), "--data", data_});
    ASSERT_EQ(imp.exit_code, 0) << Describe(imp);
  }
  testing::TempDir dir_;
  std::string data_;
};

TEST_F(CliSafetyTest, ImpossibleDatesAreRefusedByEveryCommandThatTakesATime) {
  struct Case {
    std::vector<std::string> args;
  };
  for (const Case& c : std::vector<Case>{{{"train", "--until", "2023-02-31"}},
                                         {{"recommend", "--user", "u1", "--at", "2023-02-30"}},
                                         {{"features", "--user", "u1", "--at", "2023-02-30T10:00:00Z"}},
                                         {{"features", "dataset", "--out", dir_ / "rows.tsv", "--until", "2023-04-31"}},
                                         {{"tune", "--until", "2023-02-29", "--budget", "1", "--out", dir_ / "t.toml"}}}) {
    std::vector<std::string> args = c.args;
    args.insert(args.end(), {"--data", data_});
    ProcessResult r = Funnel(args);
    SCOPED_TRACE(::testing::PrintToString(args));
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_THAT(r.err, AllOf(HasSubstr("cannot read time"), HasSubstr(" days, not "), HasSubstr("RFC 3339")));
  }
  EXPECT_FALSE(std::filesystem::exists(data_ + "/models/CURRENT")) << "nothing was trained";
}

TEST_F(CliSafetyTest, Rfc3339WithAnOffsetIsTheSameInstantAsItsUtcForm) {
  ProcessResult utc = Funnel({"features", "--data", data_, "--user", "u1", "--at", "2023-11-15T00:00:00Z"});
  ProcessResult offset = Funnel({"features", "--data", data_, "--user", "u1", "--at", "2023-11-15T01:00:00+01:00"});
  ProcessResult frac = Funnel({"features", "--data", data_, "--user", "u1", "--at", "2023-11-14 19:00:00.000-05:00"});
  ASSERT_EQ(utc.exit_code, 0) << Describe(utc);
  ASSERT_EQ(offset.exit_code, 0) << Describe(offset);
  ASSERT_EQ(frac.exit_code, 0) << Describe(frac);
  EXPECT_THAT(utc.out, HasSubstr("as of 2023-11-15T00:00:00Z"));
  EXPECT_EQ(offset.out, utc.out);
  EXPECT_EQ(frac.out, utc.out);
}

// `-` is standard output wherever a command writes a file; the human summary then moves to
// stderr so the piped data stays clean, and no file named "-" appears.
TEST_F(CliSafetyTest, DashIsStdoutForTheDatasetTheTunedConfigAndTheRejects) {
  ProcessResult rows = Funnel({"features", "dataset", "--data", data_, "--out", "-"});
  ASSERT_EQ(rows.exit_code, 0) << Describe(rows);
  EXPECT_TRUE(rows.out.starts_with("#funnel-dataset\t1\n")) << rows.out.substr(0, 200);
  EXPECT_NE(rows.out.find("\n#end\trows="), std::string::npos);
  EXPECT_THAT(rows.err, HasSubstr("<stdout>: "));

  const std::string config = dir_.Write("any.toml", "[retrieval]\nmin_validation_users = 0\nsources = [\"popular\", \"covisit\"]\n");
  ProcessResult tuned = Funnel({"tune", "--data", data_, "--config", config, "--budget", "1", "--out", "-"});
  ASSERT_EQ(tuned.exit_code, 0) << Describe(tuned);
  EXPECT_TRUE(tuned.out.starts_with("# Written by `funnel tune`")) << tuned.out.substr(0, 200);
  EXPECT_THAT(tuned.out, HasSubstr("[retrieval]"));
  EXPECT_THAT(tuned.err, HasSubstr("the current configuration"));

  const std::string bad = dir_.Write("bad.jsonl", "{\"user\":\"u1\",\"item\":\"i1\",\"type\":\"like\",\"ts\":1700000000}\n{\"user\":\"u1\"}\n");
  ProcessResult rejects = Funnel({"import", "events", bad, "--data", data_, "--rejects", "-"});
  EXPECT_EQ(rejects.exit_code, 2) << Describe(rejects);
  EXPECT_TRUE(rejects.out.starts_with("{\"source\":")) << rejects.out;
  EXPECT_THAT(rejects.out, HasSubstr("missing required field"));
  EXPECT_THAT(rejects.err, HasSubstr("1 rejected"));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::current_path() / "-"));
}

TEST_F(CliSafetyTest, TrainOnAHandfulOfValidationUsersSaysItKeptTheDefaults) {
  ProcessResult t = Funnel({"train", "--data", data_});
  ASSERT_EQ(t.exit_code, 0) << Describe(t);
  EXPECT_THAT(t.out, AllOf(HasSubstr("tuning skipped: the validation carve-out holds"),
                           HasSubstr("fewer than min_validation_users = 50"), HasSubstr("shipped defaults are kept")));
  EXPECT_THAT(t.out, HasSubstr("trained on 50 events"));
  EXPECT_THAT(t.out, Not(HasSubstr("chosen")));
  // The bound is a setting: at 0, even ten users are tuned on.
  const std::string config = dir_.Write("tune-anyway.toml", "[retrieval]\nmin_validation_users = 0\n");
  ProcessResult anyway = Funnel({"train", "--data", data_, "--config", config});
  ASSERT_EQ(anyway.exit_code, 0) << Describe(anyway);
  EXPECT_THAT(anyway.out, Not(HasSubstr("tuning skipped")));
}

TEST_F(CliSafetyTest, DemoRefusesADataDirWithAStoreItDidNotMake) {
  ProcessResult before = Funnel({"stats", "--data", data_});
  ASSERT_EQ(before.exit_code, 0) << Describe(before);
  ProcessResult demo = Funnel({"demo", "--data", data_, "--users", "30", "--items", "60", "--days", "2", "--no-eval"});
  EXPECT_EQ(demo.exit_code, 1) << Describe(demo);
  EXPECT_THAT(demo.err, AllOf(HasSubstr("funnel demo did not make"), HasSubstr("--data")));
  ProcessResult after = Funnel({"stats", "--data", data_});
  ASSERT_EQ(after.exit_code, 0) << Describe(after);
  EXPECT_EQ(after.out, before.out) << "the user's store is untouched";
}

TEST(CliDemoTest, DemoReusesItsOwnDirectoryButNotOnceSomeoneImportedIntoIt) {
  testing::TempDir dir;
  const std::string data = dir / "demo";
  const std::vector<std::string> demo = {"demo", "--data", data, "--users", "40", "--items", "80", "--days", "2", "--no-eval"};
  ProcessResult first = Funnel(demo);
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  // Its feature block prints categoricals as their values, as `funnel features` does.
  EXPECT_THAT(first.out, ::testing::ContainsRegex("item_category +[a-z]+\n"));
  ProcessResult again = Funnel(demo);
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  ProcessResult imp = Funnel({"import", "events", dir.Write("mine.jsonl", TinyEvents()), "--data", data});
  ASSERT_EQ(imp.exit_code, 0) << Describe(imp);
  ProcessResult refused = Funnel(demo);
  EXPECT_EQ(refused.exit_code, 1) << Describe(refused);
  EXPECT_THAT(refused.err, HasSubstr("has changed since"));
}

// Nothing listens on the port: the consumer retries, logs the refusal once, gives up.
TEST_F(CliSafetyTest, IngestKafkaWithNoBrokerGivesUpInABoundedTimeAndLogsTheFailureOnce) {
  const std::string config = dir_.Write("kafka.toml", "[kafka]\ngive_up_seconds = 2\n");
  const auto start = std::chrono::steady_clock::now();
  // Port 9 (discard) on loopback: no Kafka broker listens there on a test machine.
  ProcessResult r = Funnel({"ingest", "kafka", "--data", data_, "--config", config, "--brokers", "127.0.0.1:9",
                            "--topic", "events", "--group", "g"});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, AllOf(HasSubstr("no broker reachable at 127.0.0.1:9 for 2 s"), HasSubstr("give_up_seconds")));
  EXPECT_LT(seconds, 60) << "bounded (2 s, plus leaving the group)";
  // librdkafka reports the refusal on every retry, as a log line and as an error: logged once.
  size_t refusals = 0, all_down = 0;
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("giving up") != std::string::npos) continue;  // the final error quotes the last failure
    refusals += line.find("Connection refused") != std::string::npos;
    all_down += line.find("brokers are down") != std::string::npos;
  }
  EXPECT_EQ(refusals, 1u) << r.err;
  EXPECT_LE(all_down, 1u) << r.err;
}

}  // namespace
}  // namespace funnel
