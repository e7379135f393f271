// Popularity sources: log(1 + count) of positives, all-time, in a window or decayed, worked out
// by hand; Retrieve honours exclusion and k and agrees with Score; saved files load back to the
// same source and damaged ones are refused.
#include "funnel/retrieval/popularity.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/retrieval/source_registry.h"
#include "support/temp_dir.h"

namespace funnel::retrieval {
namespace {

using ::testing::HasSubstr;
constexpr int64_t kHourUs = 3600'000'000, kDayUs = 24 * kHourUs;
constexpr int64_t kCutoffUs = 1'700'000'000'000'000;

// A training set holding only what popularity reads: positives (time order) and the cutoff.
TrainingSet Positives(uint32_t num_items, std::vector<std::pair<int64_t, uint32_t>> age_us_item) {
  TrainingSet ts;
  ts.cutoff = Timestamp::FromMicros(kCutoffUs);
  ts.num_items = num_items;
  std::sort(age_us_item.begin(), age_us_item.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (auto [age, item] : age_us_item) ts.positives.push_back({kCutoffUs - age, 0, item});
  return ts;
}

std::vector<Candidate> Retrieve(const Source& s, const UserState& u, size_t k) {
  std::vector<Candidate> out;
  s.Retrieve(u, {.k = k, .now = Timestamp::FromMicros(kCutoffUs)}, &out);
  return out;
}

std::vector<std::pair<uint32_t, float>> Pairs(const std::vector<Candidate>& c) {
  std::vector<std::pair<uint32_t, float>> out;
  for (const Candidate& x : c) out.emplace_back(x.item, x.score);
  return out;
}

// Item 0: 3 positives (ages 0, 1 d, 3 d); item 1: 1 (age 12 h); item 2: none; item 3: 2 (ages
// exactly 1 d and 2 d); item 4: 1 (age 10 d).
TrainingSet Sample() {
  return Positives(5, {{0, 0}, {kDayUs, 0}, {3 * kDayUs, 0}, {12 * kHourUs, 1}, {kDayUs, 3}, {2 * kDayUs, 3},
                       {10 * kDayUs, 4}});
}

float Log1p(double x) { return static_cast<float>(std::log1p(x)); }

TEST(PopularityTest, AllTimeScoreIsLogOnePlusThePositiveCount) {
  auto p = PopularitySource::Build(Sample(), {});
  EXPECT_EQ(p->name(), "popular");
  EXPECT_THAT(p->scores(), ::testing::ElementsAre(Log1p(3), Log1p(1), 0.0f, Log1p(2), Log1p(1)));
  // Best first, ties by the lower item, items without a positive never returned.
  EXPECT_THAT(Pairs(Retrieve(*p, {}, 10)),
              ::testing::ElementsAre(std::pair(0u, Log1p(3)), std::pair(3u, Log1p(2)), std::pair(1u, Log1p(1)),
                                     std::pair(4u, Log1p(1))));
}

TEST(PopularityTest, WindowKeepsPositivesAtMostWindowOld) {
  auto p = PopularitySource::Build(Sample(), {.name = "recent", .window_days = 1});
  EXPECT_EQ(p->name(), "recent");
  // Ages 0 and exactly 1 d count, older ones do not.
  EXPECT_THAT(p->scores(), ::testing::ElementsAre(Log1p(2), Log1p(1), 0.0f, Log1p(1), 0.0f));
}

TEST(PopularityTest, HalfLifeDecaysEachPositiveByItsAge) {
  auto p = PopularitySource::Build(Sample(), {.name = "trending", .half_life_days = 1});
  EXPECT_FLOAT_EQ(p->scores()[0], Log1p(1 + 0.5 + 0.125));
  EXPECT_FLOAT_EQ(p->scores()[1], Log1p(std::sqrt(0.5)));
  EXPECT_EQ(p->scores()[2], 0.0f);
  EXPECT_FLOAT_EQ(p->scores()[3], Log1p(0.5 + 0.25));
  EXPECT_FLOAT_EQ(p->scores()[4], Log1p(std::exp2(-10)));
  // A window and a half-life together: decayed counts of the window's positives.
  auto both = PopularitySource::Build(Sample(), {.half_life_days = 1, .window_days = 1});
  EXPECT_FLOAT_EQ(both->scores()[0], Log1p(1.5));
  EXPECT_FLOAT_EQ(both->scores()[3], Log1p(0.5));
  EXPECT_EQ(both->scores()[4], 0.0f);
}

TEST(PopularityTest, RetrieveSkipsExcludedItemsAndStopsAtK) {
  auto p = PopularitySource::Build(Sample(), {});
  UserState u;
  u.exclude = {0, 1};
  EXPECT_THAT(Pairs(Retrieve(*p, u, 10)), ::testing::ElementsAre(std::pair(3u, Log1p(2)), std::pair(4u, Log1p(1))));
  EXPECT_THAT(Pairs(Retrieve(*p, u, 1)), ::testing::ElementsAre(std::pair(3u, Log1p(2))));
  EXPECT_TRUE(Retrieve(*p, u, 0).empty());
}

TEST(PopularityTest, ScoreAgreesWithRetrieveAndUnknownItemsScoreZero) {
  auto p = PopularitySource::Build(Sample(), {.half_life_days = 2});
  std::vector<Candidate> top = Retrieve(*p, {}, 10);
  std::vector<uint32_t> items;
  for (const Candidate& c : top) items.push_back(c.item);
  items.push_back(2);    // no positive
  items.push_back(999);  // outside the model
  std::vector<float> s(items.size());
  p->Score({}, items, Timestamp::FromMicros(kCutoffUs), s);
  for (size_t j = 0; j < top.size(); ++j) EXPECT_EQ(s[j], top[j].score) << items[j];
  EXPECT_EQ(s[top.size()], 0.0f);
  EXPECT_EQ(s[top.size() + 1], 0.0f);
}

TEST(PopularityTest, SaveThenLoadGivesTheSameSource) {
  testing::TempDir dir;
  auto p = PopularitySource::Build(Sample(), {.name = "trending", .half_life_days = 0.3});
  ASSERT_TRUE(p->Save(dir.path()).ok());
  EXPECT_TRUE(std::filesystem::exists(dir / "trending.blob"));
  auto loaded = BuiltinSources().Load("trending", dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->name(), "trending");
  UserState u;
  u.exclude = {3};
  EXPECT_EQ(Pairs(Retrieve(**loaded, u, 10)), Pairs(Retrieve(*p, u, 10)));
  std::vector<uint32_t> items = {0, 1, 2, 3, 4, 7};
  std::vector<float> a(items.size()), b(items.size());
  p->Score(u, items, Timestamp::FromMicros(kCutoffUs), a);
  (*loaded)->Score(u, items, Timestamp::FromMicros(kCutoffUs), b);
  EXPECT_EQ(a, b);
}

TEST(PopularityTest, DamagedOrMissingFileIsRefusedNamingIt) {
  testing::TempDir dir;
  auto p = PopularitySource::Build(Sample(), {});
  ASSERT_TRUE(p->Save(dir.path()).ok());
  const std::string path = dir / "popular.blob";
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 20u);
  for (size_t at : {size_t{0}, bytes.size() / 2, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] ^= 0x01;
    dir.Write("popular.blob", bad);
    auto loaded = PopularitySource::Load("popular", dir.path());
    ASSERT_FALSE(loaded.ok()) << "flipped byte " << at;
    EXPECT_THAT(std::string(MessageOf(loaded.status())), HasSubstr(path));
  }
  dir.Write("popular.blob", bytes.substr(0, bytes.size() / 2));
  EXPECT_FALSE(PopularitySource::Load("popular", dir.path()).ok()) << "truncated";
  auto missing = BuiltinSources().Load("trending", dir.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(MessageOf(missing.status())), HasSubstr("trending.blob"));
}

}  // namespace
}  // namespace funnel::retrieval
