#include "funnel/events/jsonl_importer.h"

#include <fstream>
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

}  // namespace
}  // namespace funnel::events
