// The training set and request-time user states over a real event store: strengths by the
// documented rule (type weights, the rating threshold, watch ratios, decay), positives in time
// order, item times, recent items, the catalog; a user's request-time state equals their row of
// the training set; nothing at or after the cutoff is read.
#include "funnel/retrieval/training_set.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_store.h"

namespace funnel::retrieval {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::TestStore;
constexpr double kHour = TestStore::kHour, kDay = TestStore::kDay;

StatusOr<TrainingSet> Build(const TestStore& s, double cutoff_offset, const TrainingSetOptions& o = {}) {
  return BuildTrainingSet(s.store(), EventsConfig{}, TestStore::At(cutoff_offset), o);
}

// A user's row of the training set as item -> strength.
std::map<uint32_t, float> Row(const TrainingSet& ts, uint32_t user) {
  std::map<uint32_t, float> out;
  auto idx = ts.user_items.RowIndices(user);
  auto val = ts.user_items.RowValues(user);
  for (size_t j = 0; j < idx.size(); ++j) out[idx[j]] = val[j];
  return out;
}

TEST(TrainingSetTest, StrengthFollowsTypeWeightRatingThresholdAndCappedWatchRatio) {
  TestStore s;
  s.AddItem("w1", std::nullopt, R"({"duration":20})");
  s.AddItem("w2", std::nullopt, R"({"duration":20})");
  s.Add("u", "r5", "rating", 1 * kHour, 5);     // at the threshold or above: weight 1
  s.Add("u", "r3", "rating", 2 * kHour, 3);     // below: low_rating
  s.Add("u", "rn", "rating", 3 * kHour);        // no stars: below the threshold
  s.Add("u", "w1", "watch", 4 * kHour, 25);     // 25 s of 20: ratio 1.25
  s.Add("u", "w2", "watch", 5 * kHour, 100);    // ratio 5, capped at 1.5
  s.Add("u", "w3", "watch", 6 * kHour, 10);     // duration unknown: 1
  s.Add("u", "x", "like", 7 * kHour);           // +4
  s.Add("u", "x", "dislike", 8 * kHour);        // -4: the pair sums to 0 and is dropped
  s.Add("u", "d", "dislike", 9 * kHour);        // -4
  s.Add("u", "sk", "skip", 10 * kHour);         // -1
  s.Add("u", "imp", "impression", 11 * kHour);  // weight 0
  s.Add("u", "r5", "click", 12 * kHour);        // +1 on top of the rating
  s.Add("u", "b", "bookmark", 13 * kHour);      // unlisted type: default_weight 1

  auto ts = Build(s, kDay, {.low_rating = 0.1, .max_watch_ratio = 1.5});
  ASSERT_TRUE(ts.ok()) << ts.status();
  EXPECT_EQ(ts->events, 13u);
  std::map<uint32_t, float> want = {
      {s.Item("r5"), 2.0f},  {s.Item("r3"), 0.1f}, {s.Item("rn"), 0.1f}, {s.Item("w1"), 1.25f},
      {s.Item("w2"), 1.5f},  {s.Item("w3"), 1.0f}, {s.Item("d"), -4.0f}, {s.Item("sk"), -1.0f},
      {s.Item("b"), 1.0f}};
  EXPECT_EQ(Row(*ts, s.User("u")), want);
  // An impression weighs nothing, but the item is seen: it is in the catalog.
  EXPECT_EQ(ts->item_seen[s.Item("imp")], 1);
  EXPECT_TRUE(std::binary_search(ts->catalog.begin(), ts->catalog.end(), s.Item("imp")));
}

TEST(TrainingSetTest, HalfLifeHalvesAStrengthPerHalfLifeOfAgeAtTheCutoff) {
  TestStore s;
  const double cutoff = 10 * kDay;
  s.Add("u", "a", "like", cutoff - 2 * kDay);    // 4 * 1/2
  s.Add("u", "a", "like", cutoff - 4 * kDay);    // 4 * 1/4
  s.Add("u", "b", "click", cutoff - 1 * kDay);   // 2^-1/2
  s.Add("u", "c", "dislike", cutoff - 4 * kDay); // -4 * 1/4
  s.Add("u", "r", "rating", cutoff - 2 * kDay, 3);  // 0.25 (low_rating) * 1/2
  auto ts = Build(s, cutoff, {.half_life_days = 2});
  ASSERT_TRUE(ts.ok()) << ts.status();
  std::map<uint32_t, float> got = Row(*ts, s.User("u"));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[s.Item("a")], 3.0f);
  EXPECT_FLOAT_EQ(got[s.Item("b")], static_cast<float>(std::sqrt(0.5)));
  EXPECT_EQ(got[s.Item("c")], -1.0f);
  EXPECT_EQ(got[s.Item("r")], 0.125f);

  // Without a half-life the same events keep their full weights.
  auto flat = Build(s, cutoff);
  ASSERT_TRUE(flat.ok()) << flat.status();
  std::map<uint32_t, float> want = {{s.Item("a"), 8.0f}, {s.Item("b"), 1.0f}, {s.Item("c"), -4.0f}, {s.Item("r"), 0.25f}};
  EXPECT_EQ(Row(*flat, s.User("u")), want);
}

TEST(TrainingSetTest, PositivesAreThePositiveEventsBeforeTheCutoffInTimeOrder) {
  TestStore s;
  // Appended out of time order on purpose: the training set reads in time order.
  s.Add("u1", "a", "click", 5 * kHour);
  s.Add("u2", "b", "rating", 1 * kHour, 4);    // at the threshold: positive
  s.Add("u2", "c", "rating", 2 * kHour, 3.5);  // below
  s.Add("u2", "c", "rating", 2.5 * kHour);     // no stars
  s.Add("u1", "d", "view", 3 * kHour);
  s.Add("u1", "e", "watch", 4 * kHour, 3);
  s.Add("u2", "f", "like", 6 * kHour);
  s.Add("u2", "g", "share", 7 * kHour);
  s.Add("u1", "h", "purchase", 8 * kHour);
  s.Add("u1", "i", "add_to_cart", 9 * kHour);
  for (const char* type : {"dislike", "skip", "impression", "bookmark"}) s.Add("u1", "n", type, 10 * kHour);
  s.Add("u1", "late", "click", 30 * kHour);  // after the cutoff

  auto ts = Build(s, kDay);
  ASSERT_TRUE(ts.ok()) << ts.status();
  const uint32_t u1 = s.User("u1"), u2 = s.User("u2");
  auto p = [&](double h, uint32_t u, const char* item) {
    return std::tuple(TestStore::At(h * kHour).micros(), u, s.Item(item));
  };
  std::vector<std::tuple<int64_t, uint32_t, uint32_t>> got;
  for (const PositiveEvent& e : ts->positives) got.emplace_back(e.ts_us, e.user, e.item);
  EXPECT_THAT(got, ElementsAre(p(1, u2, "b"), p(3, u1, "d"), p(4, u1, "e"), p(5, u1, "a"), p(6, u2, "f"),
                               p(7, u2, "g"), p(8, u1, "h"), p(9, u1, "i")));
  EXPECT_EQ(ts->events, 14u);
}

TEST(TrainingSetTest, FirstSeenIsTheEarliestEventAndCreatedIsFirstSeenOrElseTheUploadTime) {
  TestStore s;
  s.AddItem("old", -100 * kDay);  // a catalog import of an old film: released long before
  s.AddItem("meta", 2 * kHour);   // uploaded, never engaged with
  s.AddItem("future", 2 * kDay);  // uploaded after the cutoff
  s.Add("u", "multi", "click", 7 * kHour);
  s.Add("u", "multi", "impression", 3 * kHour);
  s.Add("u", "old", "impression", 5 * kHour);
  s.Add("u", "late", "click", 30 * kHour);

  auto ts = Build(s, kDay);
  ASSERT_TRUE(ts.ok()) << ts.status();
  ASSERT_EQ(ts->num_items, 5u);
  const int64_t never = TrainingSet::kNever;
  auto us = [](double offset) { return TestStore::At(offset).micros(); };
  const uint32_t multi = s.Item("multi"), old = s.Item("old"), meta = s.Item("meta"), future = s.Item("future"),
                 late = s.Item("late");
  EXPECT_EQ(ts->item_first_seen_us[multi], us(3 * kHour));
  EXPECT_EQ(ts->item_created_us[multi], us(3 * kHour));
  EXPECT_EQ(ts->item_first_seen_us[old], us(5 * kHour));
  EXPECT_EQ(ts->item_created_us[old], us(5 * kHour)) << "new on the platform when first seen, not at release";
  EXPECT_EQ(ts->item_first_seen_us[meta], never);
  EXPECT_EQ(ts->item_created_us[meta], us(2 * kHour));
  EXPECT_EQ(ts->item_first_seen_us[future], never);
  EXPECT_EQ(ts->item_created_us[future], us(2 * kDay)) << "the upload time, as documented (FreshSource hides it)";
  EXPECT_EQ(ts->item_first_seen_us[late], never);
  EXPECT_EQ(ts->item_created_us[late], never);
  for (uint32_t i : {meta, future, late}) EXPECT_EQ(ts->item_seen[i], 0) << i;
  std::vector<uint32_t> catalog = {multi, old};
  std::sort(catalog.begin(), catalog.end());
  EXPECT_EQ(ts->catalog, catalog);
}

TEST(TrainingSetTest, UserRecentIsPositiveItemsNewestFirstEachOnceAndCapped) {
  TestStore s;
  s.Add("u", "a", "click", 1 * kHour);
  s.Add("u", "b", "click", 2 * kHour);
  s.Add("u", "a", "click", 3 * kHour);
  s.Add("u", "c", "like", 4 * kHour);
  s.Add("u", "d", "dislike", 5 * kHour);     // not a positive
  s.Add("u", "e", "rating", 6 * kHour, 2);   // not a positive
  s.Add("u", "f", "watch", 7 * kHour, 5);
  s.Add("v", "z", "click", 8 * kHour);
  const uint32_t u = s.User("u");
  auto all = Build(s, kDay, {.recent_items = 10});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(all->user_recent[u], ElementsAre(s.Item("f"), s.Item("c"), s.Item("a"), s.Item("b")));
  EXPECT_THAT(all->user_recent[s.User("v")], ElementsAre(s.Item("z")));
  auto capped = Build(s, kDay, {.recent_items = 3});
  ASSERT_TRUE(capped.ok()) << capped.status();
  EXPECT_THAT(capped->user_recent[u], ElementsAre(s.Item("f"), s.Item("c"), s.Item("a")));
}

// Every user's request-time state at `cutoff` against their row of the training set, and the
// excluded items against a replay of what they touched before it.
void ExpectStatesMatchRows(const store::EventStore& store, const TrainingSet& ts, const TrainingSetOptions& o) {
  std::vector<std::set<uint32_t>> touched(ts.num_users);
  ASSERT_TRUE(store.Replay(Timestamp::Min(), ts.cutoff, [&](const store::StoredEvent& e) {
    touched[Raw(e.user)].insert(Raw(e.item));
    return true;
  }).ok());
  StrengthRule rule(store, EventsConfig{}, o);
  for (uint32_t u = 0; u < ts.num_users; ++u) {
    SCOPED_TRACE(u);
    auto st = BuildUserState(store, rule, UserIdx{u}, ts.cutoff, o.recent_items);
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->user, u);
    auto idx = ts.user_items.RowIndices(u);
    auto val = ts.user_items.RowValues(u);
    EXPECT_THAT(st->items, ElementsAreArray(idx.begin(), idx.end()));
    EXPECT_THAT(st->strengths, ElementsAreArray(val.begin(), val.end()));
    EXPECT_EQ(st->recent, ts.user_recent[u]);
    EXPECT_EQ(std::set<uint32_t>(st->exclude.begin(), st->exclude.end()), touched[u]);
  }
}

TEST(TrainingSetTest, UserStateEqualsTheTrainingSetRowOnGeneratedData) {
  TestStore s;
  s.ImportGenerated(/*users=*/150, /*items=*/400, /*days=*/3, /*seed=*/3);
  // Explicit ratings on top of the implicit feed, some below the threshold.
  for (int k = 0; k < 40; ++k)
    s.Add(s.store().UserName(UserIdx{uint32_t(k % 7)}), s.store().ItemName(ItemIdx{uint32_t(k * 13 % 400)}), "rating",
          (k + 0.5) * kHour, 1 + k % 5);
  const TrainingSetOptions o = {.low_rating = 0.3, .max_watch_ratio = 1.7, .half_life_days = 0.7, .recent_items = 12};
  auto ts = Build(s, 2.3 * kDay, o);
  ASSERT_TRUE(ts.ok()) << ts.status();
  ASSERT_GT(ts->user_items.nnz(), 800u) << "the data must exercise the comparison";
  ExpectStatesMatchRows(s.store(), *ts, o);
}

TEST(TrainingSetTest, UserStateEqualsTheTrainingSetRowForRepeatedDecayedEvents) {
  // Many decayed events on one pair: the two sums must add the same floats in the same order.
  TestStore s;
  for (int k = 0; k < 50; ++k) {
    s.Add("u", "a", k % 3 ? "click" : "skip", k * 0.37 * kHour);
    s.Add("u", "b", "watch", k * 0.41 * kHour, 3 + k);
  }
  const TrainingSetOptions o = {.half_life_days = 0.3};
  auto ts = Build(s, kDay, o);
  ASSERT_TRUE(ts.ok()) << ts.status();
  ExpectStatesMatchRows(s.store(), *ts, o);
}

TEST(TrainingSetTest, NothingAtOrAfterTheCutoffIsRead) {
  TestStore s;
  s.ImportGenerated(/*users=*/80, /*items=*/300, /*days=*/2, /*seed=*/5);
  const double cutoff = 1.2 * kDay;
  const TrainingSetOptions o = {.half_life_days = 1, .recent_items = 8};
  auto before = Build(s, cutoff, o);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_GT(before->positives.size(), 50u);

  // Events exactly at the cutoff and later, by known and new users on known and new items.
  const std::string u0 = s.store().UserName(UserIdx{0}), i0 = s.store().ItemName(ItemIdx{0});
  s.Add(u0, i0, "like", cutoff);
  s.Add(u0, i0, "dislike", cutoff + 1);
  s.Add(u0, "brand-new", "click", cutoff);
  s.Add("new-user", i0, "share", cutoff + kHour);
  s.Add(s.store().UserName(UserIdx{1}), s.store().ItemName(ItemIdx{1}), "watch", 3 * kDay, 30);
  auto after = Build(s, cutoff, o);
  ASSERT_TRUE(after.ok()) << after.status();

  EXPECT_EQ(after->events, before->events);
  ASSERT_EQ(after->positives.size(), before->positives.size());
  for (size_t k = 0; k < before->positives.size(); ++k) {
    EXPECT_EQ(after->positives[k].ts_us, before->positives[k].ts_us);
    EXPECT_EQ(after->positives[k].user, before->positives[k].user);
    EXPECT_EQ(after->positives[k].item, before->positives[k].item);
  }
  EXPECT_EQ(after->catalog, before->catalog);
  ASSERT_GT(after->num_users, before->num_users);
  ASSERT_GT(after->num_items, before->num_items);
  for (uint32_t u = 0; u < after->num_users; ++u) {
    if (u < before->num_users) {
      EXPECT_EQ(Row(*after, u), Row(*before, u)) << u;
      EXPECT_EQ(after->user_recent[u], before->user_recent[u]) << u;
    } else {
      EXPECT_EQ(after->user_items.RowIndices(u).size(), 0u);
      EXPECT_TRUE(after->user_recent[u].empty());
    }
  }
  for (uint32_t i = 0; i < after->num_items; ++i) {
    const int64_t want = i < before->num_items ? before->item_first_seen_us[i] : TrainingSet::kNever;
    EXPECT_EQ(after->item_first_seen_us[i], want) << i;
  }
  ExpectStatesMatchRows(s.store(), *after, o);
}

}  // namespace
}  // namespace funnel::retrieval
