#include "funnel/core/blob_file.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace funnel {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(BlobFileTest, RoundTripsEveryElementType) {
  testing::TempDir dir;
  BlobWriter w("test-kind");
  w.Add("f", std::vector<float>{1.5f, -2.0f});
  w.Add("u", std::vector<uint32_t>{7, 8, 9});
  w.Add("i", std::vector<int64_t>{INT64_MIN, 42});
  w.Add("empty", std::vector<uint64_t>{});
  w.AddString("s", "hello\0world");
  ASSERT_TRUE(w.Write(dir / "a.blob").ok());
  auto r = BlobReader::Open(dir / "a.blob", "test-kind");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r->Get<float>("f"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(*r->Get<uint32_t>("u"), (std::vector<uint32_t>{7, 8, 9}));
  EXPECT_EQ(*r->Get<int64_t>("i"), (std::vector<int64_t>{INT64_MIN, 42}));
  EXPECT_TRUE(r->Get<uint64_t>("empty")->empty());
  EXPECT_EQ(*r->GetString("s"), "hello");
  EXPECT_EQ(r->Get<float>("u").status().code(), absl::StatusCode::kDataLoss);  // wrong type
  EXPECT_EQ(r->Get<float>("nope").status().code(), absl::StatusCode::kDataLoss);
}

TEST(BlobFileTest, EveryCorruptionIsRefusedWithTheFileName) {
  testing::TempDir dir;
  BlobWriter w("k");
  w.Add("x", std::vector<float>(1000, 3.0f));
  ASSERT_TRUE(w.Write(dir / "ok.blob").ok());
  const std::string good = ReadAll(dir / "ok.blob");
  EXPECT_EQ(BlobReader::Open(dir / "ok.blob", "other").status().code(), absl::StatusCode::kDataLoss);
  for (size_t cut : {size_t{0}, size_t{4}, size_t{20}, good.size() / 2, good.size() - 1}) {
    auto r = BlobReader::Open(dir.Write("cut.blob", good.substr(0, cut)), "k");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << cut;
    EXPECT_NE(std::string(MessageOf(r.status())).find("cut.blob"), std::string::npos);
  }
  for (size_t at : {size_t{3}, size_t{9}, good.size() / 2, good.size() - 2}) {
    std::string bad = good;
    bad[at] ^= 0x40;
    EXPECT_EQ(BlobReader::Open(dir.Write("flip.blob", bad), "k").status().code(), absl::StatusCode::kDataLoss) << at;
  }
  EXPECT_EQ(BlobReader::Open(dir / "missing.blob", "k").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace funnel
