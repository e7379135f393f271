// The fresh source: 2^(-age / half_life) as of the request time, worked out by hand; never an
// item created after `now` nor one older than max_age; what a training set knows about creation
// times; Retrieve agrees with Score; saved files load back identical and damaged ones are refused.
#include "funnel/retrieval/fresh.h"

#include <cmath>
#include <limits>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/retrieval/source_registry.h"
#include "support/temp_dir.h"

namespace funnel::retrieval {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

using ::testing::ElementsAre;
using ::testing::HasSubstr;
constexpr int64_t kHourUs = 3600'000'000, kDayUs = 24 * kHourUs;
constexpr int64_t kNowUs = 1'700'000'000'000'000;
constexpr int64_t kNever = TrainingSet::kNever;
const Timestamp kNow = Timestamp::FromMicros(kNowUs);

std::vector<std::pair<uint32_t, float>> Retrieve(const Source& s, const UserState& u, size_t k, Timestamp now) {
  std::vector<Candidate> out;
  s.Retrieve(u, {.k = k, .now = now}, &out);
  std::vector<std::pair<uint32_t, float>> pairs;
  for (const Candidate& c : out) pairs.emplace_back(c.item, c.score);
  return pairs;
}

// Ages as of kNow: item 0 two days, 1 half an hour in the future, 2 unknown, 3 twenty days,
// 4 exactly fourteen days, 5 zero, 6 one day.
std::unique_ptr<FreshSource> Sample(FreshOptions o = {.half_life_days = 2, .max_age_days = 14}) {
  return FreshSource::FromTimes({kNowUs - 2 * kDayUs, kNowUs + kHourUs / 2, kNever, kNowUs - 20 * kDayUs,
                                 kNowUs - 14 * kDayUs, kNowUs, kNowUs - kDayUs},
                                o);
}

TEST(FreshTest, ScoreIsMinusHalfLivesOfAgeAndMinusInfinityBeforeCreationOrWhenUnknown) {
  auto f = Sample();
  std::vector<uint32_t> items = {0, 1, 2, 3, 4, 5, 6, 100};
  std::vector<float> s(items.size());
  f->Score({}, items, kNow, s);
  EXPECT_EQ(s[0], -1.0f);
  EXPECT_EQ(s[1], -kInf) << "created after now";
  EXPECT_EQ(s[2], -kInf) << "creation time unknown";
  EXPECT_EQ(s[3], -10.0f) << "too old to retrieve, still scored";
  EXPECT_EQ(s[4], -7.0f);
  EXPECT_EQ(s[5], 0.0f);
  EXPECT_FLOAT_EQ(s[6], -0.5f);
  EXPECT_EQ(s[7], -kInf) << "outside the model";
  // An hour later item 1 exists, at age half an hour.
  f->Score({}, items, Timestamp::FromMicros(kNowUs + kHourUs), s);
  EXPECT_FLOAT_EQ(s[1], static_cast<float>(-0.5 / 24 / 2));
}

TEST(FreshTest, ScoresKeepAgeOrderDecadesAfterUpload) {
  // 2^(-age / 2 days) underflows a float after 298 days: every item would tie at 0.
  auto f = Sample();
  std::vector<uint32_t> items = {5, 6, 0, 4, 3};  // newest first
  std::vector<float> s(items.size());
  f->Score({}, items, Timestamp::FromMicros(kNowUs + 30 * 365 * kDayUs), s);
  for (size_t j = 0; j + 1 < s.size(); ++j) {
    EXPECT_TRUE(std::isfinite(s[j])) << items[j];
    EXPECT_GT(s[j], s[j + 1]) << items[j] << " is newer than " << items[j + 1];
  }
}

TEST(FreshTest, RetrieveIsNewestFirstWithinMaxAgeAndNeverCreatedAfterNow) {
  auto f = Sample();
  // Item 1 (future), 2 (unknown) and 3 (20 days) never; 4 is exactly max_age old: kept.
  EXPECT_THAT(Retrieve(*f, {}, 10, kNow),
              ElementsAre(std::pair(5u, 0.0f), std::pair(6u, -0.5f), std::pair(0u, -1.0f),
                          std::pair(4u, -7.0f)));
  // A day earlier, items 1 and 5 do not exist yet, 6 is created exactly then (age 0), 4 is 13
  // days old and 3 is 19.
  auto earlier = Retrieve(*f, {}, 10, Timestamp::FromMicros(kNowUs - kDayUs));
  std::vector<uint32_t> ids;
  for (auto& [i, s] : earlier) ids.push_back(i);
  EXPECT_THAT(ids, ElementsAre(6u, 0u, 4u));
  EXPECT_EQ(earlier[0].second, 0.0f);
}

TEST(FreshTest, RetrieveSkipsExcludedItemsAndStopsAtK) {
  auto f = Sample();
  UserState u;
  u.exclude = {5, 0};
  EXPECT_THAT(Retrieve(*f, u, 10, kNow),
              ElementsAre(std::pair(6u, -0.5f), std::pair(4u, -7.0f)));
  EXPECT_THAT(Retrieve(*f, u, 1, kNow), ElementsAre(std::pair(6u, -0.5f)));
  EXPECT_TRUE(Retrieve(*f, u, 0, kNow).empty());
}

TEST(FreshTest, ScoreAgreesWithRetrieve) {
  auto f = Sample({.half_life_days = 0.7, .max_age_days = 30});
  const Timestamp at = Timestamp::FromMicros(kNowUs + 3 * kHourUs);
  std::vector<Candidate> top;
  f->Retrieve({}, {.k = 10, .now = at}, &top);
  ASSERT_EQ(top.size(), 6u);
  std::vector<uint32_t> items;
  for (const Candidate& c : top) items.push_back(c.item);
  std::vector<float> s(items.size());
  f->Score({}, items, at, s);
  for (size_t j = 0; j < top.size(); ++j) EXPECT_EQ(s[j], top[j].score) << items[j];
}

TEST(FreshTest, BuildHidesItemsUploadedAtOrAfterTheCutoff) {
  TrainingSet ts;
  ts.cutoff = kNow;
  ts.num_items = 4;
  // Seen items carry their first event; unseen ones their upload time, even a future one.
  ts.item_created_us = {kNowUs - kDayUs, kNowUs, kNowUs + kDayUs, kNowUs - 2 * kDayUs};
  auto f = FreshSource::Build(ts, {.half_life_days = 1, .max_age_days = 14});
  EXPECT_THAT(f->created_us(), ElementsAre(kNowUs - kDayUs, kNever, kNever, kNowUs - 2 * kDayUs));
  // Even requested two days later, items unknown as of the cutoff never appear.
  auto later = Retrieve(*f, {}, 10, Timestamp::FromMicros(kNowUs + 2 * kDayUs));
  ASSERT_EQ(later.size(), 2u);
  EXPECT_EQ(later[0], std::pair(0u, -3.0f));
  EXPECT_EQ(later[1], std::pair(3u, -4.0f));
}

TEST(FreshTest, SaveThenLoadGivesTheSameSourceWithItsOptions) {
  testing::TempDir dir;
  auto f = Sample({.half_life_days = 0.9, .max_age_days = 3});
  ASSERT_TRUE(f->Save(dir.path()).ok());
  auto loaded = FreshSource::Load("fresh", dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->options().half_life_days, 0.9);
  EXPECT_EQ((*loaded)->options().max_age_days, 3);
  EXPECT_EQ((*loaded)->created_us(), f->created_us());
  for (int64_t dt : {int64_t{0}, kHourUs, -kDayUs, 5 * kDayUs}) {
    const Timestamp at = Timestamp::FromMicros(kNowUs + dt);
    EXPECT_EQ(Retrieve(**loaded, {}, 10, at), Retrieve(*f, {}, 10, at)) << dt;
    std::vector<uint32_t> items = {0, 1, 2, 3, 4, 5, 6};
    std::vector<float> a(items.size()), b(items.size());
    f->Score({}, items, at, a);
    (*loaded)->Score({}, items, at, b);
    EXPECT_EQ(a, b) << dt;
  }
}

TEST(FreshTest, DamagedFileIsRefusedNamingIt) {
  testing::TempDir dir;
  ASSERT_TRUE(Sample()->Save(dir.path()).ok());
  const std::string path = dir / "fresh.blob";
  std::ifstream in(path, std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  in.close();
  bytes[bytes.size() / 3] ^= 0x10;
  dir.Write("fresh.blob", bytes);
  auto loaded = BuiltinSources().Load("fresh", dir.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(MessageOf(loaded.status())), HasSubstr(path));
}

}  // namespace
}  // namespace funnel::retrieval
