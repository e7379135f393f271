#include "funnel/events/jsonl_importer.h"

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <absl/strings/escaping.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "funnel/core/json_writer.h"

#include "funnel/store/event_store.h"
#include "support/temp_dir.h"

namespace funnel::events {
namespace {

using ::testing::HasSubstr;

class JsonlImporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::EventStoreOptions opts;
    opts.path = dir_ / "store";
    auto s = store::EventStore::Open(opts);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  StatusOr<ImportReport> Import(const std::string& path, RecordKind kind = RecordKind::kEvent,
                                ImportOptions opts = {}) {
    return ImportJsonLines(path, kind, *store_, ImportConfig{}, opts);
  }
  testing::TempDir dir_;
  std::unique_ptr<store::EventStore> store_;
};

TEST_F(JsonlImporterTest, GoodRecordsLandAndBadOnesAreReportedWithLineAndField) {
  std::string path = dir_.Write("events.jsonl",
                                R"({"user":"u1","item":"a","type":"click","ts":1,"id":"e1"})" "\n"
                                R"({"user":"u1","item":"b","type":"click","ts":"2","id":"e2"})" "\n"
                                "\n"
                                R"({"user":"u2","item":"a","type":"like","ts":3,"id":"e3"})" "\r\n"
                                "{broken\n"
                                R"({"user":"u2","item":"c","type":"like","ts":4})");
  auto r = Import(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines, 6u);
  EXPECT_EQ(r->accepted, 3u);
  EXPECT_EQ(r->rejected, 2u);
  ASSERT_EQ(r->first_errors.size(), 2u);
  EXPECT_EQ(r->first_errors[0], path + ":2: field \"ts\": expected a number, got string");
  EXPECT_THAT(r->first_errors[1], HasSubstr(path + ":5: invalid JSON"));
  EXPECT_EQ(store_->Stats().events, 3u);
}

TEST_F(JsonlImporterTest, ReimportingTheSameFileStoresNothingNew) {
  std::ostringstream content;
  for (int i = 0; i < 1000; ++i)
    content << R"({"user":"u)" << i % 17 << R"(","item":"i)" << i % 101 << R"(","type":"click","ts":)" << i
            << (i % 2 ? R"(,"id":"e)" + std::to_string(i) + "\"" : std::string()) << "}\n";
  std::string path = dir_.Write("events.jsonl", content.str());
  ImportOptions opts;
  opts.batch_size = 64;  // many commits, so dedupe works across batches
  auto first = Import(path, RecordKind::kEvent, opts);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->accepted, 1000u);
  auto second = Import(path, RecordKind::kEvent, opts);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->accepted, 0u);
  EXPECT_EQ(second->duplicates, 1000u);
  EXPECT_EQ(store_->Stats().events, 1000u);
}

TEST_F(JsonlImporterTest, RejectsFileGetsEveryBadRecordAsJson) {
  std::string path = dir_.Write("events.jsonl", "[1]\n{\"user\":\"u\"}\n");
  ImportOptions opts;
  opts.rejects_path = dir_ / "rejects.jsonl";
  auto r = Import(path, RecordKind::kEvent, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rejected, 2u);
  std::ifstream in(opts.rejects_path);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr(R"("line":1,"error":"expected a JSON object, got array","record":"[1]")"));
  EXPECT_THAT(lines[1], HasSubstr(R"("record":"{\"user\":\"u\"}")"));
}

TEST_F(JsonlImporterTest, RejectsFileKeepsHostileRecordsRecoverableByteForByte) {
  // Each line is refused; together they hold every kind of byte a JSON writer can get wrong.
  const std::vector<std::string> bad = {
      R"({"user":"q\"uote","item":"back\\slash","type":"click"})",         // no ts
      std::string("{\"user\":\"tab\there\x01\x1f\",\"ts\":1}"),              // raw control chars
      std::string("nul\0inside\"\\", 13),
      "{\"user\":\"caf\xe9\",\"item\":\"i\",\"type\":\"click\",\"ts\":1}",  // Latin-1, not UTF-8
      "\xff\xfe\x80 binary \xc3",
      "{\"user\":\"\xe2\x82\xac ok\",\"ts\":\"x\"}",                          // valid UTF-8, bad ts
      std::string(100000, 'x') + "\"\\",
  };
  std::string text;
  for (const auto& b : bad) text += b + "\n";
  std::string path = dir_.Write("events.jsonl", text);
  ImportOptions opts;
  opts.rejects_path = dir_ / "rejects.jsonl";
  auto r = Import(path, RecordKind::kEvent, opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rejected, bad.size());

  std::ifstream in(opts.rejects_path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), bad.size());
  simdjson::dom::parser parser;
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_TRUE(simdjson::validate_utf8(lines[i].data(), lines[i].size())) << i;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(lines[i]).get(doc), simdjson::SUCCESS) << lines[i].substr(0, 200);
    std::string_view source, error, record, base64;
    uint64_t line_no = 0;
    ASSERT_EQ(doc["source"].get(source), simdjson::SUCCESS);
    EXPECT_EQ(source, path);
    ASSERT_EQ(doc["line"].get(line_no), simdjson::SUCCESS);
    EXPECT_EQ(line_no, i + 1);
    ASSERT_EQ(doc["error"].get(error), simdjson::SUCCESS);
    EXPECT_FALSE(error.empty());
    ASSERT_EQ(doc["record"].get(record), simdjson::SUCCESS);
    EXPECT_EQ(std::string(record), ToValidUtf8(bad[i]));
    if (doc["record_base64"].get(base64) == simdjson::SUCCESS) {
      EXPECT_FALSE(IsValidUtf8(bad[i])) << i;
      std::string bytes;
      ASSERT_TRUE(absl::Base64Unescape(absl::string_view(base64.data(), base64.size()), &bytes));
      EXPECT_EQ(bytes, bad[i]) << i;
    } else {
      EXPECT_EQ(std::string(record), bad[i]) << i;  // the text field is the original
    }
    bool truncated = false;
    EXPECT_NE(doc["truncated"].get(truncated), simdjson::SUCCESS);
  }
}

TEST_F(JsonlImporterTest, RejectOfALineLargerThanTheReadBufferIsMarkedTruncated) {
  // Lines up to the read buffer are refused whole; only one past it cannot be kept.
  std::string huge = R"({"user":"u","pad":")" + std::string(20 << 20, 'x') + "\"}";
  std::string path = dir_.Write("events.jsonl", huge + "\n");
  ImportOptions opts;
  opts.rejects_path = dir_ / "rejects.jsonl";
  auto r = Import(path, RecordKind::kEvent, opts);
  ASSERT_TRUE(r.ok());
  std::ifstream in(opts.rejects_path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS);
  bool truncated = false;
  ASSERT_EQ(doc["truncated"].get(truncated), simdjson::SUCCESS);
  EXPECT_TRUE(truncated);
  std::string_view record;
  ASSERT_EQ(doc["record"].get(record), simdjson::SUCCESS);
  EXPECT_LE(record.size(), 256u);
}

TEST_F(JsonlImporterTest, OverlongLineIsRejectedAndTheRestStillLands) {
  std::string huge = R"({"user":"u","item":"i","type":"click","ts":1,"pad":")" + std::string(2 << 20, 'x') + "\"}";
  std::string path = dir_.Write("events.jsonl", huge + "\n" + R"({"user":"u","item":"j","type":"click","ts":2})" + "\n");
  auto r = Import(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rejected, 1u);
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_THAT(r->first_errors[0], HasSubstr(":1: line is "));
  EXPECT_THAT(r->first_errors[0], HasSubstr("longer than the limit of 1048576"));
}

TEST_F(JsonlImporterTest, LineLargerThanTheReadBufferIsSkippedWhole) {
  // 20 MiB: larger than the reader's chunk, so the reader itself must skip to the next newline.
  std::string huge(20 << 20, 'x');
  std::string path = dir_.Write("events.jsonl", R"({"user":"u","item":"a","type":"click","ts":1})" "\n" + huge +
                                                    "\n" + R"({"user":"u","item":"b","type":"click","ts":2})");
  auto r = Import(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->lines, 3u);
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(r->rejected, 1u);
  EXPECT_THAT(r->first_errors[0], HasSubstr(":2: line is longer than the limit"));
}

TEST_F(JsonlImporterTest, CommitCallbackReportsDurableLines) {
  std::ostringstream content;
  for (int i = 0; i < 250; ++i) content << R"({"user":"u","item":"i","type":"click","ts":)" << i << "}\n";
  std::string path = dir_.Write("events.jsonl", content.str());
  ImportOptions opts;
  opts.batch_size = 100;
  std::vector<uint64_t> commits;
  opts.on_commit = [&](const std::string&, uint64_t line, const ImportReport&) { commits.push_back(line); };
  ASSERT_TRUE(Import(path, RecordKind::kEvent, opts).ok());
  EXPECT_EQ(commits, (std::vector<uint64_t>{100, 200, 250}));
}

TEST_F(JsonlImporterTest, ItemsImportAndMissingFileIsAnError) {
  std::string path = dir_.Write("items.jsonl",
                                R"({"item":"v1","ts":10,"categories":["a"],"creator":"c"})" "\n"
                                R"({"item":"v2","categories":"a"})" "\n");
  auto r = Import(path, RecordKind::kItem);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_EQ(r->rejected, 1u);
  EXPECT_EQ(store_->Stats().items_with_metadata, 1u);
  auto missing = Import(dir_ / "nope.jsonl");
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("cannot open"));
}

TEST_F(JsonlImporterTest, EventsFedToImportItemsAreRefusedAndTheStoredMetadataSurvives) {
  std::string items = dir_.Write("items.jsonl",
                                 R"({"item":"v1","ts":10,"categories":["comedy"],"creator":"c1","attributes":{"duration":31}})" "\n");
  ASSERT_TRUE(Import(items, RecordKind::kItem).ok());
  std::string events = dir_.Write("events.jsonl",
                                  R"({"user":"u1","item":"v1","type":"click","ts":1700000000})" "\n"
                                  R"({"user":"u2","item":"v1","type":"like","ts":1700000001,"id":"e2"})" "\n");
  auto r = Import(events, RecordKind::kItem);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 0u);
  EXPECT_EQ(r->rejected, 2u);
  ASSERT_FALSE(r->first_errors.empty());
  EXPECT_EQ(r->first_errors[0],
            events + R"(:1: looks like an event (it has "user" and "type"): use funnel import events)");
  auto got = store_->GetItem(*store_->FindItem("v1"));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->categories, (std::vector<std::string>{"comedy"}));
  EXPECT_EQ((*got)->creator, "c1");
  EXPECT_EQ((*got)->attributes, R"({"duration":31})");
  auto users = Import(events, RecordKind::kUser);
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->rejected, 2u);
  EXPECT_EQ(store_->Stats().users_with_attributes, 0u);
}

TEST_F(JsonlImporterTest, APartialItemRecordChangesOnlyItsFields) {
  std::string full = dir_.Write("items.jsonl",
                                R"({"item":"v1","ts":10,"categories":["comedy"],"creator":"c1","attributes":{"duration":31,"lang":"de"}})" "\n"
                                R"({"item":"v2","categories":["news"],"creator":"c2"})" "\n");
  ASSERT_TRUE(Import(full, RecordKind::kItem).ok());
  std::string patch = dir_.Write("patch.jsonl",
                                 R"({"item":"v1","creator":"c9","attributes":{"lang":null,"hd":true}})" "\n"
                                 R"({"item":"v2","categories":null})" "\n"
                                 R"({"item":"v2","creator":"c3"})" "\n");
  ImportOptions one_batch;
  auto r = Import(patch, RecordKind::kItem, one_batch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 3u);
  auto v1 = **store_->GetItem(*store_->FindItem("v1"));
  EXPECT_EQ(v1.categories, (std::vector<std::string>{"comedy"}));
  EXPECT_EQ(v1.creator, "c9");
  ASSERT_TRUE(v1.ts.has_value());
  EXPECT_EQ(v1.attributes, R"({"duration":31,"hd":true})");
  auto v2 = **store_->GetItem(*store_->FindItem("v2"));
  EXPECT_TRUE(v2.categories.empty());
  EXPECT_EQ(v2.creator, "c3");
}

TEST_F(JsonlImporterTest, SummaryCountsNonStandardTypesAndUnknownFieldsWithHints) {
  std::string path = dir_.Write("events.jsonl",
                                R"({"user":1,"item":2,"type":"lkie","ts":1,"timestamp":1})" "\n"
                                R"({"user":1,"item":3,"type":"lkie","ts":2,"timestamp":2})" "\n"
                                R"({"user":1,"item":3,"type":"Like","ts":3,"device":"ios"})" "\n"
                                R"({"user":1,"item":3,"type":"wishlist","ts":4})" "\n");
  auto r = Import(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 4u);
  ASSERT_EQ(r->nonstandard_types.size(), 2u);
  EXPECT_EQ(r->nonstandard_types[0].name, "lkie");
  EXPECT_EQ(r->nonstandard_types[0].count, 2u);
  EXPECT_EQ(r->nonstandard_types[1].name, "wishlist");
  ASSERT_EQ(r->unknown_fields.size(), 2u);
  EXPECT_EQ(r->unknown_fields[0].name, "timestamp");
  EXPECT_EQ(r->unknown_fields[0].count, 2u);
  EXPECT_EQ(r->unknown_fields[0].hint, "ts");
  EXPECT_EQ(r->unknown_fields[1].name, "device");
  EXPECT_EQ(r->unknown_fields[1].hint, "");
  EXPECT_TRUE(store_->FindType("like").has_value());
  EXPECT_FALSE(store_->FindType("Like").has_value());
  EXPECT_TRUE(store_->FindUser("1").has_value());
}

// The fuzz-style test of issue 14: random records mixing integer ids, mixed-case types, unknown
// fields, impossible values, nulls and records of the wrong kind. Each generated line knows
// what the importer must do with it (accept, or reject naming a field), so the invariants are
// checked line by line, not only in total.
struct FuzzLine {
  std::string text;
  std::string rejected_for;  // "" when the line must be accepted; else a part of the reason
};

class FuzzRecords {
 public:
  explicit FuzzRecords(uint32_t seed) : rng_(seed) {}

  FuzzLine Event(int n) {
    std::string user = Pick({Cat("\"u", n % 50, "\""), Cat(n % 50), Cat("\"U", n % 7, "\"")});
    std::string item = Pick({Cat("\"v", n % 80, "\""), Cat(n % 80)});
    std::string type = Pick({"\"click\"", "\"Like\"", "\"LIKE\"", "\"impression\"", "\"wishlist\"", "\"lkie\"",
                             "\"add_to_cart\"", "\"Watch\""});
    std::string ts = Cat(1700000000 + n);
    std::string extra = Pick({"", R"(,"timestamp":5)", R"(,"category":"x")", R"(,"device":"ios")", R"(,"value":null)",
                              R"(,"context":{"a":[1,{"b":null}]})", R"(,"request_id":null)"});
    std::string id = Cat(",\"id\":", Pick({Cat("\"e", n, "\""), Cat(n)}));
    std::string why;
    switch (rng_() % 14) {  // about half the lines carry one mistake
      case 0: user = Pick({"1.5", "true", "\"\"", "[1]", "{}"}); why = "\"user\""; break;
      case 1: item = Pick({"2.25", "false", "1e3", "null"}); why = "\"item\""; break;
      case 2: type = Pick({"\"a b\"", "7", "\"\"", "null", Cat("\"", std::string(65, 't'), "\"")}); why = "\"type\""; break;
      case 3: ts = Pick({"-1", "1700000000000", "\"2023-02-30\"", "null", "1e300"}); why = "\"ts\""; break;
      case 4: extra = Pick({R"(,"value":"5")", R"(,"context":[1])", R"(,"value":true)"}); why = "\"value\"|\"context\""; break;
      case 5: return {Pick({"{broken", "[1,2]", "\"text\"", "nul", "{\"user\":\"u\",}"}),
                      "invalid JSON|expected a JSON object"};
      case 6: id = R"(,"id":1.5)"; why = "\"id\""; break;
      default: break;
    }
    if (why.empty() && rng_() % 3 == 0) id.clear();  // deduplicated by content instead
    std::string text = Cat("{\"user\":", user, ",\"item\":", item, ",\"type\":", type, ",\"ts\":", ts, id, extra, "}");
    if (rng_() % 5 == 0) text = Cat("{\"ts\":", ts, ",\"type\":", type, ",\"item\":", item, ",\"user\":", user, id, extra, "}");
    return {text, why};
  }

 private:
  std::string Pick(std::initializer_list<std::string> options) {
    return *(options.begin() + rng_() % options.size());
  }
  std::mt19937 rng_;
};

bool MatchesAny(std::string_view error, const std::string& alternatives) {
  size_t start = 0;
  for (;;) {
    size_t bar = alternatives.find('|', start);
    if (error.find(alternatives.substr(start, bar - start)) != std::string_view::npos) return true;
    if (bar == std::string::npos) return false;
    start = bar + 1;
  }
}

TEST_F(JsonlImporterTest, FuzzedRecordsAreEachAcceptedOrRejectedNamingTheField) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(Cat("seed ", seed));
    FuzzRecords gen(seed);
    std::vector<FuzzLine> lines;
    std::string content;
    for (int n = 0; n < 1500; ++n) {
      lines.push_back(gen.Event(n + 100000 * seed));
      content += lines.back().text + "\n";
      if (n % 97 == 0) content += "\n";  // blank lines: neither records nor rejections
    }
    std::string path = dir_.Write(Cat("fuzz", seed, ".jsonl"), content);
    ImportOptions opts;
    opts.batch_size = 128;
    opts.rejects_path = dir_ / Cat("rejects", seed, ".jsonl");
    const uint64_t events_before = store_->Stats().events;
    auto r = Import(path, RecordKind::kEvent, opts);
    ASSERT_TRUE(r.ok()) << r.status();

    uint64_t expect_rejected = 0;
    for (const FuzzLine& l : lines) expect_rejected += !l.rejected_for.empty();
    EXPECT_EQ(r->records(), lines.size());
    EXPECT_EQ(r->rejected, expect_rejected);
    EXPECT_EQ(r->accepted + r->duplicates, lines.size() - expect_rejected);
    EXPECT_EQ(store_->Stats().events, events_before + r->accepted);

    // Line by line, from the rejects file: which lines, and why.
    std::ifstream rejects(opts.rejects_path);
    std::map<uint64_t, std::string> reason_of_line;
    simdjson::dom::parser json;
    for (std::string row; std::getline(rejects, row);) {
      simdjson::dom::element e = json.parse(row);
      reason_of_line[uint64_t(e["line"])] = std::string(std::string_view(e["error"]));
    }
    // Input line numbers count the blank lines too.
    uint64_t line_no = 0;
    for (int n = 0; n < static_cast<int>(lines.size()); ++n) {
      ++line_no;
      const FuzzLine& l = lines[n];
      auto it = reason_of_line.find(line_no);
      if (l.rejected_for.empty()) {
        EXPECT_TRUE(it == reason_of_line.end()) << l.text << " rejected: " << it->second;
      } else if (it == reason_of_line.end()) {
        ADD_FAILURE() << l.text << " accepted, expected a rejection for " << l.rejected_for;
      } else {
        EXPECT_TRUE(MatchesAny(it->second, l.rejected_for)) << l.text << ": " << it->second;
      }
      if (n % 97 == 0) ++line_no;
    }
  }
  // Mixed case never made a type of its own.
  EXPECT_FALSE(store_->FindType("Like").has_value());
  EXPECT_FALSE(store_->FindType("LIKE").has_value());
  EXPECT_TRUE(store_->FindType("like").has_value());
  EXPECT_TRUE(store_->FindType("lkie").has_value());  // a typo is a type of its own, reported
  EXPECT_TRUE(store_->FindUser("7").has_value());     // integer ids are their decimal text
}

TEST_F(JsonlImporterTest, FuzzedEventsFedToImportItemsLeaveItemMetadataIntact) {
  std::string items;
  for (int i = 0; i < 80; ++i)
    items += Cat(R"({"item":"v)", i, R"(","categories":["c)", i % 5, R"("],"creator":"k)", i % 3,
                 R"(","attributes":{"duration":)", i, "}}\n");
  ASSERT_TRUE(Import(dir_.Write("items.jsonl", items), RecordKind::kItem).ok());
  std::vector<Item> before;
  ASSERT_TRUE(store_->ForEachItem([&](ItemIdx, const Item& it) {
    before.push_back(it);
    return true;
  }).ok());

  FuzzRecords gen(9);
  std::string events;
  size_t n_lines = 600;
  for (size_t n = 0; n < n_lines; ++n) events += gen.Event(static_cast<int>(n)).text + "\n";
  auto r = Import(dir_.Write("events.jsonl", events), RecordKind::kItem);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 0u);
  EXPECT_EQ(r->rejected, n_lines);
  std::vector<Item> after;
  ASSERT_TRUE(store_->ForEachItem([&](ItemIdx, const Item& it) {
    after.push_back(it);
    return true;
  }).ok());
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].item, after[i].item);
    EXPECT_EQ(before[i].categories, after[i].categories) << before[i].item;
    EXPECT_EQ(before[i].creator, after[i].creator) << before[i].item;
    EXPECT_EQ(before[i].attributes, after[i].attributes) << before[i].item;
  }
}

// Random partial patches against an oracle that applies RFC 7396 to a flat attribute map.
TEST_F(JsonlImporterTest, FuzzedItemPatchesMatchAMergePatchOracle) {
  struct Model {
    std::string creator;
    std::vector<std::string> categories;
    std::map<std::string, std::string> attributes;  // key -> value's JSON text
  };
  std::map<std::string, Model> oracle;
  std::mt19937 rng(5);
  const char* keys[] = {"duration", "lang", "hd", "year"};
  const char* values[] = {"1", "\"de\"", "true", "2001", "\"x\"", "null"};
  for (int round = 0; round < 6; ++round) {
    std::string content;
    for (int n = 0; n < 200; ++n) {
      std::string id = Cat("v", rng() % 30);
      Model& m = oracle[id];
      std::string line = Cat(R"({"item":")", id, "\"");
      if (rng() % 2) {
        if (rng() % 4 == 0) {
          line += R"(,"creator":null)";
          m.creator.clear();
        } else {
          m.creator = Cat("c", rng() % 9);
          line += Cat(R"(,"creator":")", m.creator, "\"");
        }
      }
      if (rng() % 3 == 0) {
        m.categories = {Cat("k", rng() % 4)};
        line += Cat(R"(,"categories":[")", m.categories[0], "\"]");
      }
      if (rng() % 2) {
        line += R"(,"attributes":{)";
        int count = 1 + rng() % 3;
        std::set<std::string> used;
        for (int k = 0; k < count; ++k) {
          std::string key = keys[rng() % 4];
          if (!used.insert(key).second) continue;
          std::string value = values[rng() % 6];
          line += Cat(used.size() > 1 ? "," : "", "\"", key, "\":", value);
          if (value == "null") m.attributes.erase(key);
          else m.attributes[key] = value;
        }
        line += "}";
      }
      if (rng() % 4 == 0) line += R"(,"unknown_extra":1)";
      content += line + "}\n";
    }
    ImportOptions opts;
    opts.batch_size = 1 + rng() % 64;  // the same item often repeats within a batch
    auto r = Import(dir_.Write(Cat("patch", round, ".jsonl"), content), RecordKind::kItem, opts);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->rejected, 0u) << r->first_errors[0];
  }
  simdjson::dom::parser json;
  for (const auto& [id, m] : oracle) {
    auto got = store_->GetItem(*store_->FindItem(id));
    ASSERT_TRUE(got.ok() && got->has_value()) << id;
    EXPECT_EQ((*got)->creator, m.creator) << id;
    EXPECT_EQ((*got)->categories, m.categories) << id;
    std::map<std::string, std::string> attrs;
    if (!(*got)->attributes.empty()) {
      simdjson::dom::object obj = json.parse((*got)->attributes).get_object();
      for (auto kv : obj) attrs[std::string(kv.key)] = simdjson::minify(kv.value);
    }
    EXPECT_EQ(attrs, m.attributes) << id << ": " << (*got)->attributes;
  }
}

}  // namespace
}  // namespace funnel::events
