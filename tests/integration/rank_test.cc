// `funnel rank` through the real binary on a small generated platform: the contract (every
// given item exactly once, ranks from 1, scores not increasing; unknown users and items ranked,
// repeats ranked once), malformed lines named and skipped with the rest still ranked, and the
// point-in-time rule: an event stamped at or after a request's ts never changes its scores,
// while one before it does (so the check can fail).
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/funnel_process.h"
#include "support/temp_dir.h"

namespace funnel {
namespace {

using ::testing::HasSubstr;
using testing::Describe;
using testing::Funnel;
using testing::ProcessResult;

std::vector<std::vector<std::string>> Rows(const std::string& tsv) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(tsv);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream l(line);
    for (std::string cell; std::getline(l, cell, '\t');) f.push_back(cell);
    out.push_back(f);
  }
  return out;
}

class RankCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    data_ = *dir_ / "data";
    const std::string gen = *dir_ / "gen";
    ASSERT_EQ(testing::GenerateAndImport(gen, data_), "");
    ProcessResult t = Funnel({"train", "--data", data_});
    ASSERT_EQ(t.exit_code, 0) << Describe(t);
    // The data's present: just past the newest event.
    std::ifstream events(gen + "/events.jsonl");
    const std::regex ts(R"("ts":([0-9]+))");
    for (std::string line; std::getline(events, line);) {
      std::smatch m;
      if (std::regex_search(line, m, ts)) present_ = std::max(present_, std::stoll(m[1]));
    }
    ASSERT_GT(present_, 0);
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string Request(const std::string& id, const std::string& user, long long ts,
                             const std::vector<std::string>& items) {
    std::string s = "{\"request_id\":\"" + id + "\",\"user\":\"" + user + "\",\"ts\":" + std::to_string(ts) + ",\"items\":[";
    for (size_t i = 0; i < items.size(); ++i) s += (i ? ",\"" : "\"") + items[i] + "\"";
    return s + "]}\n";
  }
  static ProcessResult Rank(const std::string& requests) {
    const std::string path = *dir_ / "requests.jsonl";
    std::ofstream(path) << requests;
    return Funnel({"rank", "--requests", path, "--data", data_});
  }
  static ProcessResult Import(const std::string& events) {
    const std::string path = *dir_ / "more.jsonl";
    std::ofstream(path) << events;
    return Funnel({"import", "events", path, "--data", data_});
  }

  static inline testing::TempDir* dir_ = nullptr;
  static inline std::string data_;
  static inline long long present_ = 0;
};

const std::vector<std::string> kItems = {"v1", "v2", "v3", "v10", "v20", "v30", "v40", "v50", "v60", "v70", "v80", "v90"};

TEST_F(RankCliTest, EveryGivenItemIsRankedOnceUnknownOnesTooInScoreOrder) {
  std::vector<std::string> items = kItems;
  items.push_back("no-such-item");
  items.push_back("v2");  // a repeat: ranked once
  ProcessResult r = Rank(Request("r1", "u5", present_, items) + Request("r2", "nobody", present_, items));
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::vector<std::vector<std::string>> rows = Rows(r.out);
  ASSERT_EQ(rows.size(), 2 * (kItems.size() + 1));
  for (size_t q = 0; q < 2; ++q) {
    std::set<std::string> seen;
    double previous = 0;
    for (size_t i = 0; i <= kItems.size(); ++i) {
      const std::vector<std::string>& f = rows[q * (kItems.size() + 1) + i];
      ASSERT_EQ(f.size(), 4u);
      EXPECT_EQ(f[0], q == 0 ? "r1" : "r2");
      EXPECT_TRUE(seen.insert(f[1]).second) << f[1] << " twice";
      EXPECT_EQ(f[2], std::to_string(i + 1));
      const double score = std::stod(f[3]);
      if (i > 0) {
        EXPECT_LE(score, previous);
      }
      previous = score;
    }
    EXPECT_TRUE(seen.contains("no-such-item"));
    EXPECT_EQ(seen.size(), kItems.size() + 1);
  }
  EXPECT_THAT(r.err, HasSubstr("ranked 2 requests"));
  EXPECT_THAT(r.err, HasSubstr("listed twice in a request, ranked once"));
}

TEST_F(RankCliTest, MalformedLinesAreNamedAndSkippedTheRestRanked) {
  ProcessResult r = Rank(Request("ok", "u5", present_, {"v1", "v2"}) + "{not json\n" +
                         "{\"request_id\":\"x\",\"user\":\"u5\",\"items\":\"v1\"}\n" +
                         "{\"request_id\":\"y\",\"user\":\"u5\",\"ts\":\"2023-02-30\",\"items\":[\"v1\"]}\n");
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(Rows(r.out).size(), 2u);
  EXPECT_THAT(r.err, HasSubstr("requests.jsonl:2: request skipped: not JSON"));
  EXPECT_THAT(r.err, HasSubstr("requests.jsonl:3: request skipped: missing \"items\""));
  EXPECT_THAT(r.err, HasSubstr("requests.jsonl:4: request skipped:"));
  EXPECT_THAT(r.err, HasSubstr("3 requests of 4 skipped"));
}

TEST_F(RankCliTest, EventsAtOrAfterTheRequestTimeNeverChangeItsScoresEarlierOnesDo) {
  const long long at = present_ - 3600;  // inside the data, so later events exist already
  const std::string requests = Request("a", "u7", at, kItems) + Request("b", "u8", at, kItems);
  ProcessResult before = Rank(requests);
  ASSERT_EQ(before.exit_code, 0) << Describe(before);
  // u7 likes three of the items at the request time and after it; u8 one second before it.
  std::string later;
  for (const char* item : {"v3", "v10", "v20"})
    later += std::string("{\"user\":\"u7\",\"item\":\"") + item + "\",\"type\":\"like\",\"ts\":" + std::to_string(at) + "}\n" +
             "{\"user\":\"u7\",\"item\":\"" + item + "\",\"type\":\"like\",\"ts\":" + std::to_string(at + 60) + "}\n";
  ASSERT_EQ(Import(later).exit_code, 0);
  ProcessResult after = Rank(requests);
  ASSERT_EQ(after.exit_code, 0) << Describe(after);
  EXPECT_EQ(after.out, before.out) << "events at or after ts were used";

  std::string earlier;
  for (const char* item : {"v3", "v10", "v20", "v30", "v40"})
    earlier += std::string("{\"user\":\"u8\",\"item\":\"") + item + "\",\"type\":\"like\",\"ts\":" + std::to_string(at - 1) + "}\n";
  ASSERT_EQ(Import(earlier).exit_code, 0);
  ProcessResult changed = Rank(requests);
  ASSERT_EQ(changed.exit_code, 0) << Describe(changed);
  std::vector<std::vector<std::string>> b = Rows(before.out), c = Rows(changed.out);
  ASSERT_EQ(b.size(), c.size());
  bool a_same = true, b_same = true;
  for (size_t i = 0; i < b.size(); ++i) (b[i][0] == "a" ? a_same : b_same) &= b[i] == c[i];
  EXPECT_TRUE(a_same) << "u7's request did not change";
  EXPECT_FALSE(b_same) << "events before ts are the user's history and must count";
}

}  // namespace
}  // namespace funnel
