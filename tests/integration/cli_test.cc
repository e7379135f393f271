// End-to-end behaviour of the `funnel` binary over real files: help, import (files, stdin,
// rejects, re-import), stats, config errors (every table checked by every command), and malformed inputs that must never crash it.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/store/event_store.h"
#include "support/funnel_process.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace funnel {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessResult;
using namespace std::string_literals;

using testing::Describe;
using testing::Funnel;
using testing::ReadFile;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

// The counts of an import summary ("SRC: 1,234 accepted, 5 duplicates skipped, 2 rejected (...").
struct Summary {
  bool found = false;
  uint64_t accepted = 0, duplicates = 0, rejected = 0;
};

Summary ParseSummary(const std::string& out) {
  std::smatch m;
  Summary s;
  static const std::regex re(R"(([\d,]+) accepted, ([\d,]+) duplicates? skipped, ([\d,]+) rejected)");
  if (!std::regex_search(out, m, re)) return s;
  auto num = [](std::string t) {
    std::erase(t, ',');
    return std::stoull(t);
  };
  s.found = true;
  s.accepted = num(m[1]);
  s.duplicates = num(m[2]);
  s.rejected = num(m[3]);
  return s;
}

std::string EventJson(int n, const std::string& user = "u1") {
  return R"({"user":")" + user + R"(","item":"i)" + std::to_string(n % 7) + R"(","type":"click","ts":)" +
         std::to_string(1700000000 + n) + R"(,"id":"e)" + std::to_string(n) + R"("})";
}

events::Event EventWithId(const std::string& id) {
  events::Event e;
  e.id = id;
  return e;
}

std::unique_ptr<store::EventStore> OpenStore(const std::string& data_dir, bool read_only) {
  store::EventStoreOptions opts;
  opts.path = data_dir + "/events";
  opts.read_only = read_only;
  opts.create_if_missing = !read_only;
  auto s = store::EventStore::Open(opts);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// Whether the store holds an event with this id.
bool Has(const store::EventStore& st, const std::string& id) {
  StatusOr<bool> r = st.Contains(EventWithId(id));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() && *r;
}

// Sanitizer reports in a child's stderr (UBSan aborts, but say why the test failed).
auto NoSanitizerReport() {
  return AllOf(Not(HasSubstr("AddressSanitizer")), Not(HasSubstr("runtime error:")),
               Not(HasSubstr("LeakSanitizer")));
}

class CliTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  const std::string data_ = dir_ / "data";
};

TEST_F(CliTest, HelpExitsZeroAndDescribesCommandsAndOptions) {
  ProcessResult top = Funnel({"--help"});
  EXPECT_EQ(top.exit_code, 0) << Describe(top);
  EXPECT_THAT(top.out, AllOf(HasSubstr("import"), HasSubstr("stats")));

  ProcessResult import = Funnel({"import", "events", "--help"});
  EXPECT_EQ(import.exit_code, 0) << Describe(import);
  EXPECT_THAT(import.out, AllOf(HasSubstr("--data"), HasSubstr("--rejects"), HasSubstr("--config"),
                                HasSubstr("--batch"), HasSubstr("--print-commits"), HasSubstr("stdin")));
}

TEST_F(CliTest, UnknownSubcommandAndMissingInputFailWithoutCrashing) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{}, {"frobnicate"}, {"import"}, {"import", "events"}, {"import", "events", "--batch", "0", "x"}}) {
    ProcessResult r = Funnel(args);
    SCOPED_TRACE(::testing::PrintToString(args));
    EXPECT_EQ(r.exit_code, 1) << "usage errors exit 1\n" << Describe(r);
    EXPECT_FALSE(r.err.empty()) << "a failure must say why";
  }
}

TEST_F(CliTest, ImportWithBadLinesExitsTwoReportsWhereAndWhyAndKeepsGoodRecords) {
  const std::string bad_ts = R"({"user":"u1","item":"b","type":"click","ts":"2","id":"e2"})";
  const std::string input = dir_.Write("events.jsonl",
                                       EventJson(1) + "\n" + bad_ts + "\n" + EventJson(3) + "\n" +
                                           "{broken\n" + EventJson(5));  // no newline at the end
  const std::string rejects = dir_ / "rejects.jsonl";

  ProcessResult r = Funnel({"import", "events", input, "--data", data_, "--rejects", rejects});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(input + ": 3 accepted, 0 duplicates skipped, 2 rejected"));
  EXPECT_THAT(r.out, HasSubstr("rejected " + input + ":2: field \"ts\": expected a number, got string"));
  EXPECT_THAT(r.out, HasSubstr("rejected " + input + ":4: invalid JSON"));

  std::vector<std::string> rejected = Lines(ReadFile(rejects));
  ASSERT_EQ(rejected.size(), 2u) << ReadFile(rejects);
  EXPECT_EQ(rejected[0], R"({"source":")" + input +
                             R"(","line":2,"error":"field \"ts\": expected a number, got string","record":)"
                             R"("{\"user\":\"u1\",\"item\":\"b\",\"type\":\"click\",\"ts\":\"2\",\"id\":\"e2\"}"})");
  EXPECT_THAT(rejected[1], AllOf(HasSubstr(R"("line":4,"error":"invalid JSON)"), HasSubstr(R"("record":"{broken"})")));

  {
    auto st = OpenStore(data_, /*read_only=*/true);
    ASSERT_NE(st, nullptr);
    EXPECT_EQ(st->Stats().events, 3u);
    EXPECT_TRUE(Has(*st, "e1"));
    EXPECT_FALSE(Has(*st, "e2"));
    EXPECT_TRUE(Has(*st, "e3"));
    EXPECT_TRUE(Has(*st, "e5"));
  }
  ProcessResult stats = Funnel({"stats", "--data", data_});
  EXPECT_EQ(stats.exit_code, 0) << Describe(stats);
  EXPECT_THAT(stats.out, HasSubstr("events: 3 from 2023-11-14T22:13:21Z"));

  // Again with the same rejects file: the good records are duplicates now, the bad ones are
  // rejected again and appended.
  ProcessResult again = Funnel({"import", "events", input, "--data", data_, "--rejects", rejects});
  EXPECT_EQ(again.exit_code, 2) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr(": 0 accepted, 3 duplicates skipped, 2 rejected"));
  EXPECT_EQ(Lines(ReadFile(rejects)).size(), 4u);
}

TEST_F(CliTest, ImportFromStdinWithDash) {
  const std::string input = EventJson(1) + "\n" + EventJson(2, "u2") + "\n" + EventJson(3, "u3") + "\n" +
                            R"({"user":"u4","item":"i1","type":"click"})" + "\n";
  ProcessResult r = Funnel({"import", "events", "-", "--data", data_}, input);
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("<stdin>: 3 accepted, 0 duplicates skipped, 1 rejected"));
  EXPECT_THAT(r.out, HasSubstr("rejected <stdin>:4: missing required field \"ts\""));

  ProcessResult good = Funnel({"import", "events", "-", "--data", data_}, EventJson(10) + "\n");
  EXPECT_EQ(good.exit_code, 0) << Describe(good);
  EXPECT_THAT(good.out, HasSubstr("<stdin>: 1 accepted"));

  auto st = OpenStore(data_, /*read_only=*/true);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->Stats().events, 4u);
  EXPECT_EQ(st->Stats().users, 3u);
  EXPECT_TRUE(Has(*st, "e10"));
}

TEST_F(CliTest, ReimportOfSameFileAcceptsNothingAndCountsDuplicates) {
  std::string content;
  for (int n = 0; n < 100; ++n) {
    // Half carry an id, half are deduplicated by their content.
    content += n % 2 ? EventJson(n, "u" + std::to_string(n % 9))
                     : R"({"user":"u)" + std::to_string(n % 9) + R"(","item":"x","type":"view","ts":)" +
                           std::to_string(1700000000 + n) + "}";
    content += "\n";
  }
  const std::string input = dir_.Write("events.jsonl", content);

  ProcessResult first = Funnel({"import", "events", input, "--data", data_});
  EXPECT_EQ(first.exit_code, 0) << Describe(first);
  EXPECT_THAT(first.out, HasSubstr(": 100 accepted, 0 duplicates skipped, 0 rejected"));

  ProcessResult second = Funnel({"import", "events", input, "--data", data_, "--batch", "7"});
  EXPECT_EQ(second.exit_code, 0) << Describe(second);
  EXPECT_THAT(second.out, HasSubstr(": 0 accepted, 100 duplicates skipped, 0 rejected"));

  auto st = OpenStore(data_, /*read_only=*/true);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->Stats().events, 100u);
}

TEST_F(CliTest, StatsWithoutAnEventStoreFailsWithAHint) {
  const std::string empty = dir_ / "empty";
  std::filesystem::create_directories(empty);
  for (const std::string& d : {empty, dir_ / "does-not-exist"}) {
    ProcessResult r = Funnel({"stats", "--data", d});
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_THAT(r.err, AllOf(HasSubstr("no event store in " + d), HasSubstr("funnel import")));
    EXPECT_THAT(r.err, NoSanitizerReport());
  }
  EXPECT_TRUE(std::filesystem::is_empty(empty)) << "stats must not create a store";
  EXPECT_FALSE(std::filesystem::exists(dir_ / "does-not-exist"));
}

TEST_F(CliTest, ConfigWithUnknownKeyFailsNamingTheKey) {
  const std::string config = dir_.Write("funnel.toml", "[store]\ncommit_bach = 5\n");
  const std::string input = dir_.Write("events.jsonl", EventJson(1) + "\n");

  ProcessResult r = Funnel({"import", "events", input, "--data", data_, "--config", config});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, AllOf(HasSubstr(config + ":2"), HasSubstr("unknown key 'store.commit_bach'")));
  EXPECT_FALSE(std::filesystem::exists(data_ + "/events")) << "nothing is imported with a bad config";

  ProcessResult stats = Funnel({"stats", "--data", data_, "--config", config});
  EXPECT_EQ(stats.exit_code, 1) << Describe(stats);
  EXPECT_THAT(stats.err, HasSubstr("commit_bach"));
}

TEST_F(CliTest, ConfigWithABadRetrievalTableFailsEveryCommandNamingFileLineAndValue) {
  const std::string negative =
      dir_.Write("tuned.toml", "[retrieval]\nsources = [\"popular\"]\nmax_candidates = -5\n");
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"stats"}, std::vector<std::string>{"recommend", "--user", "u1"}}) {
    std::vector<std::string> args = command;
    args.insert(args.end(), {"--data", data_, "--config", negative});
    ProcessResult r = Funnel(args);
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr(negative + ":3: key 'retrieval.max_candidates': expected a non-negative integer, got -5"));
    EXPECT_THAT(r.err, NoSanitizerReport());
  }
  const std::string unknown = dir_.Write("sources.toml", "[retrieval]\nsources = [\"popular\", \"ials2\"]\n");
  ProcessResult r = Funnel({"stats", "--data", data_, "--config", unknown});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(unknown + ":2: key 'retrieval.sources': unknown source 'ials2'; known: popular, "
                               "trending, fresh, covisit, ials, ease"));
}

TEST_F(CliTest, MissingConfigFileFailsClearly) {
  const std::string missing = dir_ / "no-such-funnel.toml";
  const std::string input = dir_.Write("events.jsonl", EventJson(1) + "\n");
  ProcessResult r = Funnel({"import", "events", input, "--data", data_, "--config", missing});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(missing));
  EXPECT_THAT(r.err, AnyOf(HasSubstr("does not exist"), HasSubstr("cannot open")));
  EXPECT_FALSE(std::filesystem::exists(data_ + "/events"));
}

TEST_F(CliTest, ImportOfMissingFileOrDirectoryFailsWithExitOne) {
  const std::string missing = dir_ / "missing.jsonl";
  ProcessResult r = Funnel({"import", "events", missing, "--data", data_});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("cannot open " + missing));

  ProcessResult d = Funnel({"import", "events", dir_.path(), "--data", data_});
  EXPECT_EQ(d.exit_code, 1) << Describe(d);
  EXPECT_THAT(d.err, HasSubstr("is a directory"));

  ProcessResult items = Funnel({"import", "items", missing, "--data", data_});
  EXPECT_EQ(items.exit_code, 1) << Describe(items);
  EXPECT_THAT(items.err, HasSubstr("cannot open " + missing));
}

TEST_F(CliTest, ImportItemsAndUsersThenStatsShowsMetadataCounts) {
  const std::string events = dir_.Write(
      "events.jsonl", R"({"user":"u1","item":"a","type":"click","ts":1700000000,"id":"e1"})" "\n"
                      R"({"user":"u2","item":"b","type":"like","ts":1700000001,"id":"e2"})" "\n"
                      R"({"user":"u2","item":"c","type":"like","ts":1700000002,"id":"e3"})" "\n"
                      R"({"user":"u1","item":"d","type":"view","ts":1700000003,"id":"e4"})" "\n");
  const std::string items = dir_.Write(
      "items.jsonl", R"({"item":"a","ts":1690000000,"categories":["comedy"],"creator":"c1"})" "\n"
                     R"({"item":"b","categories":["drama","news"],"attributes":{"duration":31}})" "\n"
                     R"({"item":"e"})" "\n"
                     R"({"item":7.5})" "\n");
  const std::string users =
      dir_.Write("users.jsonl", R"({"user":"u1","attributes":{"country":"de"}})" "\n"
                                R"({"user":"u9","attributes":{"country":"fr"}})" "\n");

  ProcessResult ev = Funnel({"import", "events", events, "--data", data_});
  ASSERT_EQ(ev.exit_code, 0) << Describe(ev);
  ProcessResult it = Funnel({"import", "items", items, "--data", data_});
  EXPECT_EQ(it.exit_code, 2) << Describe(it);
  EXPECT_THAT(it.out, HasSubstr(": 3 accepted, 0 duplicates skipped, 1 rejected"));
  EXPECT_THAT(it.out, HasSubstr(items + ":4: field \"item\": expected a string or an integer id, got a number with a fraction or an exponent (7.5)"));
  // Importing the same items again updates them; the count of items with metadata stays.
  ProcessResult it2 = Funnel({"import", "items", items, "--data", data_});
  EXPECT_EQ(it2.exit_code, 2) << Describe(it2);
  ProcessResult us = Funnel({"import", "users", users, "--data", data_});
  EXPECT_EQ(us.exit_code, 0) << Describe(us);

  ProcessResult stats = Funnel({"stats", "--data", data_});
  EXPECT_EQ(stats.exit_code, 0) << Describe(stats);
  EXPECT_THAT(stats.out, HasSubstr("events: 4 from 2023-11-14T22:13:20Z to 2023-11-14T22:13:23Z"));
  EXPECT_THAT(stats.out, HasSubstr("items:  5 (3 with metadata)"));
  EXPECT_THAT(stats.out, HasSubstr("users:  3 (2 with attributes)"));
  EXPECT_THAT(stats.out, HasSubstr("like"));

  auto st = OpenStore(data_, /*read_only=*/true);
  ASSERT_NE(st, nullptr);
  auto b = st->FindItem("b");
  ASSERT_TRUE(b.has_value());
  auto item = st->GetItem(*b);
  ASSERT_TRUE(item.ok()) << item.status();
  ASSERT_TRUE(item->has_value());
  EXPECT_THAT((*item)->categories, ::testing::ElementsAre("drama", "news"));
  EXPECT_EQ((*item)->attributes, R"({"duration":31})");
}

TEST_F(CliTest, ImportItemsOfAnEventsFileIsRefusedAndKeepsTheItemMetadata) {
  const std::string items = dir_.Write(
      "items.jsonl", R"({"item":"v1","categories":["comedy"],"creator":"c4","attributes":{"duration":31}})" "\n");
  const std::string events = dir_.Write(
      "events.jsonl", R"({"user":"u1","item":"v1","type":"click","ts":1700000000})" "\n"
                      R"({"user":"u2","item":"v1","type":"like","ts":1700000001})" "\n");
  ASSERT_EQ(Funnel({"import", "items", items, "--data", data_}).exit_code, 0);
  ProcessResult wrong = Funnel({"import", "items", events, "--data", data_});
  EXPECT_EQ(wrong.exit_code, 1) << Describe(wrong);
  EXPECT_THAT(wrong.out, HasSubstr(": 0 accepted, 0 duplicates skipped, 2 rejected"));
  EXPECT_THAT(wrong.out, HasSubstr(events + R"(:1: looks like an event (it has "user" and "type"): use funnel import events)"));
  EXPECT_THAT(wrong.err, HasSubstr("no record accepted, all 2 rejected"));
  ProcessResult users = Funnel({"import", "users", events, "--data", data_});
  EXPECT_EQ(users.exit_code, 1) << Describe(users);
  EXPECT_THAT(users.out, HasSubstr(R"(looks like an event (it has "item", "type" and "ts"): use funnel import events)"));

  auto st = OpenStore(data_, /*read_only=*/true);
  ASSERT_NE(st, nullptr);
  auto item = st->GetItem(*st->FindItem("v1"));
  ASSERT_TRUE(item.ok() && item->has_value());
  EXPECT_THAT((*item)->categories, ::testing::ElementsAre("comedy"));
  EXPECT_EQ((*item)->creator, "c4");
  EXPECT_EQ((*item)->attributes, R"({"duration":31})");
  EXPECT_EQ(st->Stats().users_with_attributes, 0u);
}

TEST_F(CliTest, ImportItemsPatchChangesOnlyTheFieldsItCarries) {
  const std::string items = dir_.Write(
      "items.jsonl", R"({"item":7,"ts":1690000000,"categories":["comedy"],"creator":"c4","attributes":{"duration":31,"lang":"de"}})" "\n"
                     R"({"item":"v8","categories":["news"],"creator":"c5"})" "\n");
  const std::string patch = dir_.Write(
      "patch.jsonl", R"({"item":"7","attributes":{"lang":null,"hd":true}})" "\n"
                     R"({"item":"v8","creator":null})" "\n");
  ASSERT_EQ(Funnel({"import", "items", items, "--data", data_}).exit_code, 0);
  ProcessResult p = Funnel({"import", "items", patch, "--data", data_});
  EXPECT_EQ(p.exit_code, 0) << Describe(p);
  EXPECT_THAT(p.out, HasSubstr(": 2 accepted"));

  auto st = OpenStore(data_, /*read_only=*/true);
  ASSERT_NE(st, nullptr);
  auto seven = st->GetItem(*st->FindItem("7"));
  ASSERT_TRUE(seven.ok() && seven->has_value());
  EXPECT_THAT((*seven)->categories, ::testing::ElementsAre("comedy"));
  EXPECT_EQ((*seven)->creator, "c4");
  ASSERT_TRUE((*seven)->ts.has_value());
  EXPECT_EQ((*seven)->ts->seconds(), 1690000000);
  EXPECT_EQ((*seven)->attributes, R"({"duration":31,"hd":true})");
  auto v8 = st->GetItem(*st->FindItem("v8"));
  ASSERT_TRUE(v8.ok() && v8->has_value());
  EXPECT_THAT((*v8)->categories, ::testing::ElementsAre("news"));
  EXPECT_EQ((*v8)->creator, "");
}

TEST_F(CliTest, ImportSummaryListsNonStandardTypesAndUnknownFieldsWithHints) {
  const std::string events = dir_.Write(
      "events.jsonl", R"({"user":42,"item":7,"type":"lkie","ts":1700000000,"timestamp":1})" "\n"
                      R"({"user":42,"item":8,"type":"lkie","ts":1700000001,"user_id":42})" "\n"
                      R"({"user":43,"item":8,"type":"LIKE","ts":1700000002})" "\n"
                      R"({"user":43,"item":9,"type":"wishlist","ts":1700000003,"device":"ios"})" "\n");
  ProcessResult r = Funnel({"import", "events", events, "--data", data_});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(": 4 accepted"));
  EXPECT_THAT(r.out, HasSubstr("  non-standard types: lkie 2, wishlist 1 (standard: impression, click,"));
  EXPECT_THAT(r.out, HasSubstr("  unknown fields, ignored: "));
  EXPECT_THAT(r.out, HasSubstr("timestamp 1 (did you mean ts?)"));
  EXPECT_THAT(r.out, HasSubstr("user_id 1 (did you mean user?)"));
  EXPECT_THAT(r.out, HasSubstr("device 1"));
  const std::string items = dir_.Write("items.jsonl", R"({"item":"7","category":"comedy"})" "\n");
  ProcessResult it = Funnel({"import", "items", items, "--data", data_});
  EXPECT_EQ(it.exit_code, 0) << Describe(it);
  EXPECT_THAT(it.out, HasSubstr("category 1 (did you mean categories?)"));

  auto st = OpenStore(data_, /*read_only=*/true);
  ASSERT_NE(st, nullptr);
  EXPECT_TRUE(st->FindUser("42").has_value());
  EXPECT_TRUE(st->FindType("like").has_value());
  EXPECT_FALSE(st->FindType("LIKE").has_value());
}

TEST_F(CliTest, ImportExitsOneWhenNothingIsAcceptedButZeroForAReimportOfDuplicates) {
  ProcessResult empty = Funnel({"import", "events", dir_.Write("empty.jsonl", ""), "--data", data_});
  EXPECT_EQ(empty.exit_code, 1) << Describe(empty);
  EXPECT_THAT(empty.err, HasSubstr("empty.jsonl: the file is empty (0 records)"));
  ProcessResult blank = Funnel({"import", "events", "-", "--data", data_}, "\n\n");
  EXPECT_EQ(blank.exit_code, 1) << Describe(blank);
  EXPECT_THAT(blank.err, HasSubstr("<stdin>: no records, only 2 blank lines"));
  ProcessResult bad = Funnel({"import", "events", "-", "--data", data_}, "{\"user\":\"u\"}\n");
  EXPECT_EQ(bad.exit_code, 1) << Describe(bad);
  EXPECT_THAT(bad.err, HasSubstr("<stdin>: no record accepted, all 1 rejected"));

  const std::string input = dir_.Write("events.jsonl", EventJson(1) + "\n" + EventJson(2) + "\n");
  EXPECT_EQ(Funnel({"import", "events", input, "--data", data_}).exit_code, 0);
  ProcessResult again = Funnel({"import", "events", input, "--data", data_});
  EXPECT_EQ(again.exit_code, 0) << Describe(again);  // the data is there: nothing went wrong
  EXPECT_THAT(again.out, HasSubstr(": 0 accepted, 2 duplicates skipped, 0 rejected"));

  ProcessResult help = Funnel({"import", "items", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Exit status: 0"));
  EXPECT_THAT(help.out, HasSubstr("1 nothing accepted"));
}

// The fuzz-style import test of issue 14 at the CLI: random records mixing integer ids,
// mixed-case types, unknown fields, impossible values and nulls, imported as events, then fed
// to `import items` and `import users`. Never a crash; every record accounted for; every
// refusal has a reason; item metadata imported before survives.
TEST_F(CliTest, ImportOfFuzzedRecordsAccountsForEveryRecordAndLosesNoMetadata) {
  std::mt19937 rng(14);
  auto pick = [&](std::initializer_list<std::string> o) { return *(o.begin() + rng() % o.size()); };
  std::string content;
  size_t records = 0;
  for (int n = 0; n < 400; ++n) {
    std::string user = pick({"\"u" + std::to_string(n % 20) + "\"", std::to_string(n % 20), "1.5", "true", "null", "\"\""});
    std::string item = pick({"\"v" + std::to_string(n % 30) + "\"", std::to_string(n % 30), "[1]"});
    std::string type = pick({"\"click\"", "\"Like\"", "\"SHARE\"", "\"lkie\"", "\"a b\"", "3", "null"});
    std::string ts = pick({std::to_string(1700000000 + n), "-5", "1700000000000", "\"2023-02-30\"", "null"});
    std::string extra = pick({"", R"(,"category":"x")", R"(,"timestamp":1)", R"(,"value":null)", R"(,"value":"x")",
                              R"(,"context":{"k":null})", R"(,"id":)" + std::to_string(n)});
    if (rng() % 25 == 0) {
      content += pick({"{oops", "[]", "42"}) + "\n";
    } else {
      content += "{\"user\":" + user + ",\"item\":" + item + ",\"type\":" + type + ",\"ts\":" + ts + extra + "}\n";
    }
    ++records;
    if (rng() % 30 == 0) content += "\n";
  }
  const std::string events = dir_.Write("fuzz.jsonl", content);
  const std::string items = dir_.Write(
      "items.jsonl", R"({"item":"v1","categories":["comedy"],"creator":"c4","attributes":{"duration":31}})" "\n"
                     R"({"item":2,"categories":["news"],"attributes":{"duration":12}})" "\n");
  ASSERT_EQ(Funnel({"import", "items", items, "--data", data_}).exit_code, 0);

  for (const char* what : {"events", "items", "users"}) {
    SCOPED_TRACE(what);
    const std::string rejects = dir_ / (std::string(what) + "-rejects.jsonl");
    ProcessResult r = Funnel({"import", what, events, "--data", data_, "--rejects", rejects});
    ASSERT_NE(r.exit_code, -1) << "killed by a signal\n" << Describe(r);
    EXPECT_THAT(r.err, NoSanitizerReport());
    Summary s = ParseSummary(r.out);
    ASSERT_TRUE(s.found) << Describe(r);
    EXPECT_EQ(s.accepted + s.duplicates + s.rejected, records) << Describe(r);
    EXPECT_EQ(r.exit_code, s.accepted + s.duplicates == 0 ? 1 : s.rejected > 0 ? 2 : 0) << Describe(r);
    std::vector<std::string> rows = Lines(ReadFile(rejects));
    EXPECT_EQ(rows.size(), s.rejected);
    for (const std::string& row : rows) {
      // A reason for every refusal: a named field, the JSON itself, or the wrong import.
      EXPECT_THAT(row, AnyOf(HasSubstr(R"(\"user\")"), HasSubstr(R"(\"item\")"), HasSubstr(R"(\"type\")"),
                             HasSubstr(R"(\"ts\")"), HasSubstr(R"(\"value\")"), HasSubstr("invalid JSON"),
                             HasSubstr("expected a JSON object"), HasSubstr("looks like an event")))
          << row;
    }
    if (std::string(what) != "events") {
      EXPECT_EQ(s.accepted, 0u) << Describe(r);  // every line is an event
    }
  }
  auto st = OpenStore(data_, /*read_only=*/true);
  ASSERT_NE(st, nullptr);
  auto v1 = st->GetItem(*st->FindItem("v1"));
  ASSERT_TRUE(v1.ok() && v1->has_value());
  EXPECT_THAT((*v1)->categories, ::testing::ElementsAre("comedy"));
  EXPECT_EQ((*v1)->attributes, R"({"duration":31})");
  auto two = st->GetItem(*st->FindItem("2"));
  ASSERT_TRUE(two.ok() && two->has_value());
  EXPECT_EQ((*two)->attributes, R"({"duration":12})");
  EXPECT_FALSE(st->FindType("Like").has_value());
  EXPECT_EQ(st->Stats().users_with_attributes, 0u);
}

// Malformed inputs: the importer must finish (exit 0, or 2 when it rejected something), never
// crash or fail, and the store must still open afterwards with the earlier events intact.
struct MalformedCase {
  std::string name;
  std::string content;
  int exit_code;      // expected: 0, 1 (nothing accepted), 2 (some rejected), or -2 for "0 or 2"
  int accepted;       // expected newly accepted records, or -1 for "any"
  std::string says;   // expected in stdout or stderr, when not empty
};

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string BinaryGarbage() {
  std::mt19937 rng(7);
  std::string out(64 << 10, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::string HugeLine() {
  return R"({"user":"u","item":"i","type":"click","ts":1,"context":{"x":")" + std::string(5 << 20, 'a') + "\"}}";
}

std::vector<MalformedCase> MalformedCases() {
  const std::string good = R"({"user":"u9","item":"z","type":"click","ts":1700000100,"id":"new-1"})";
  // simdjson's depth limit is 1024: the first nests just below it, the second just above.
  auto deep_object = [](int depth) {
    return R"({"user":"u9","item":"z","type":"click","ts":1,"id":"deep","context":)" +
           Repeat("{\"a\":", depth - 1) + "1" + std::string(depth - 1, '}') + "}";
  };
  return {
      {"BinaryGarbage", BinaryGarbage(), 1, 0, "rejected"},
      {"NulBytesInsideALine", "{\"user\":\"u\0x\",\"item\":\"i\",\"type\":\"click\",\"ts\":1}\n"s, 1, 0, ""},
      {"FiveMegabyteLineThenAGoodOne", HugeLine() + "\n" + good + "\n", 2, 1, ":1: line is 5242944 bytes, longer than the limit"},
      {"FiveMegabyteLineWithoutNewline", HugeLine(), 1, 0, "longer than the limit"},
      {"EmptyFile", "", 1, 0, "malformed.jsonl: the file is empty (0 records)"},
      {"OnlyANewline", "\n", 1, 0, "malformed.jsonl: no records, only 1 blank line"},
      {"OnlyWhitespaceLines", " \n\t\n\r\n   \n", 1, 0, "no records, only 4 blank lines"},
      {"JsonArrayInsteadOfObjects", "[" + good + "," + good + "]\n", 1, 0, "expected a JSON object, got array"},
      {"ScalarsInsteadOfObjects", "1\n\"x\"\nnull\ntrue\n", 1, 0, "no record accepted, all 4 rejected"},
      {"IntegerIds", R"({"user":1,"item":2,"type":"click","ts":1,"id":3})" "\n", 0, 1, ""},
      {"FloatAndBooleanIds", R"({"user":1.5,"item":2,"type":"click","ts":1})" "\n" R"({"user":"u","item":true,"type":"click","ts":1})" "\n",
       1, 0, "field \"item\": expected a string or an integer id, got boolean"},
      {"NestedDepth1000", deep_object(1000) + "\n", 0, 1, ""},
      {"NestedDepth1030", deep_object(1030) + "\n", 1, 0, "too deep"},
      {"NestedArraysDepth100000", R"({"user":"u","item":"i","type":"click","ts":1,"extra":)" +
                                      std::string(100000, '[') + std::string(100000, ']') + "}\n",
       1, 0, ""},
      {"InvalidUtf8InId", "{\"user\":\"u\xff\xfe\",\"item\":\"i\",\"type\":\"click\",\"ts\":1}\n", 1, 0, "invalid JSON"},
      {"HugeAndNegativeTimestamps",
       R"({"user":"u","item":"i","type":"click","ts":1e400})" "\n"
       R"({"user":"u","item":"i","type":"click","ts":-1})" "\n"
       R"({"user":"u","item":"i","type":"click","ts":1700000000000})" "\n",
       1, 0, "milliseconds?"},
      {"OverlongId", R"({"user":"u","item":"i","type":"click","ts":1,"id":")" + std::string(300, 'x') + "\"}\n", 1, 0,
       "longer than the limit"},
      {"TruncatedLastLine", good + "\n" + R"({"user":"u","item":"i","ty)", 2, 1, ":2: invalid JSON"},
      {"OldMacLineEndings", good + "\r" + good + "\r", 1, 0, "invalid JSON"},
      {"Utf8ByteOrderMark", "\xEF\xBB\xBF" + good + "\n", 0, 1, ""},
  };
}

void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

class CliMalformedInputTest : public ::testing::TestWithParam<MalformedCase> {
 protected:
  testing::TempDir dir_;
  const std::string data_ = dir_ / "data";
};

TEST_P(CliMalformedInputTest, ImportNeverCrashesAndKeepsEarlierEvents) {
  const MalformedCase& c = GetParam();
  std::string earlier;
  for (int n = 0; n < 5; ++n) earlier += EventJson(n) + "\n";
  ProcessResult seed = Funnel({"import", "events", dir_.Write("earlier.jsonl", earlier), "--data", data_});
  ASSERT_EQ(seed.exit_code, 0) << Describe(seed);

  const std::string input = dir_.Write("malformed.jsonl", c.content);
  ProcessResult r = Funnel({"import", "events", input, "--data", data_, "--rejects", dir_ / "rejects.jsonl"});
  ASSERT_NE(r.exit_code, -1) << "killed by a signal\n" << Describe(r);
  EXPECT_THAT(r.err, NoSanitizerReport());
  if (c.exit_code == -2) {
    EXPECT_THAT(r.exit_code, AnyOf(0, 2)) << Describe(r);
  } else {
    EXPECT_EQ(r.exit_code, c.exit_code) << Describe(r);
  }
  Summary s = ParseSummary(r.out);
  // An input without a single record gets a sentence instead of a summary of zeros.
  const bool no_records = r.err.find("the file is empty") != std::string::npos ||
                          r.err.find("no records, only") != std::string::npos;
  ASSERT_TRUE(s.found || no_records) << "no import summary\n" << Describe(r);
  if (c.accepted >= 0) {
    EXPECT_EQ(s.accepted, static_cast<uint64_t>(c.accepted)) << Describe(r);
  }
  EXPECT_EQ(r.exit_code == 2, s.rejected > 0 && s.accepted + s.duplicates > 0) << Describe(r);
  EXPECT_EQ(r.exit_code == 1, s.accepted + s.duplicates == 0) << Describe(r);
  if (!c.says.empty()) {
    EXPECT_THAT(r.out + r.err, HasSubstr(c.says));
  }
  // Every rejected record is in the rejects file, one JSON line each.
  EXPECT_EQ(Lines(ReadFile(dir_ / "rejects.jsonl")).size(), s.rejected);

  {
    auto st = OpenStore(data_, /*read_only=*/false);
    ASSERT_NE(st, nullptr);
    EXPECT_EQ(st->Stats().events, 5 + s.accepted);
    for (int n = 0; n < 5; ++n) EXPECT_TRUE(Has(*st, "e" + std::to_string(n))) << "e" << n;
  }
  ProcessResult stats = Funnel({"stats", "--data", data_});
  EXPECT_EQ(stats.exit_code, 0) << Describe(stats);
  EXPECT_THAT(stats.out, HasSubstr("events: " + std::to_string(5 + s.accepted) + " from"));
}

INSTANTIATE_TEST_SUITE_P(CliMalformed, CliMalformedInputTest, ::testing::ValuesIn(MalformedCases()),
                         [](const ::testing::TestParamInfo<MalformedCase>& p) { return p.param.name; });

}  // namespace
}  // namespace funnel

namespace funnel {
namespace {

// Time is an argument whose default is the data's present (README, "Time"): just past the
// newest stored event, never the wall clock. Events from 2001 are read as of 2001.
TEST(CliTimeTest, FeaturesWithoutAtAreReadAsOfTheNewestStoredEvent) {
  testing::TempDir dir;
  const std::string data = dir / "data";
  const std::string events = dir.Write("events.jsonl",
                                       "{\"user\":\"u1\",\"item\":\"a\",\"type\":\"like\",\"ts\":1000000000}\n"
                                       "{\"user\":\"u2\",\"item\":\"a\",\"type\":\"like\",\"ts\":1000000060.5}\n");
  testing::ProcessResult imp = testing::Funnel({"import", "events", events, "--data", data});
  ASSERT_EQ(imp.exit_code, 0) << testing::Describe(imp);
  testing::ProcessResult f = testing::Funnel({"features", "--data", data, "--user", "u1"});
  ASSERT_EQ(f.exit_code, 0) << testing::Describe(f);
  EXPECT_THAT(f.out, ::testing::HasSubstr("as of 2001-09-09T01:47:40Z")) << f.out;
}

}  // namespace
}  // namespace funnel
