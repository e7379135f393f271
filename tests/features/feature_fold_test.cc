// The fold's arithmetic on hand-made events, checked against values worked out by hand.
#include "funnel/features/feature_fold.h"

#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "funnel/events/generator.h"
#include "funnel/events/jsonl_importer.h"
#include "support/temp_dir.h"

namespace funnel::features {
namespace {

constexpr double kT0 = 1700000000;
constexpr double kDay = 86400;

events::Event Ev(std::string user, std::string item, std::string type, double ts,
                 std::optional<double> value = std::nullopt) {
  events::Event e;
  e.user = std::move(user);
  e.item = std::move(item);
  e.type = std::move(type);
  e.ts = Timestamp::FromSeconds(ts);
  e.value = value;
  return e;
}

events::Item It(std::string id, std::vector<std::string> cats, std::string creator, double duration,
                double uploaded) {
  events::Item it;
  it.item = std::move(id);
  it.categories = std::move(cats);
  it.creator = std::move(creator);
  it.attributes = Cat(R"({"duration":)", duration, "}");
  it.ts = Timestamp::FromSeconds(uploaded);
  return it;
}

class FoldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::EventStore::Open({.path = dir_.path()});
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }

  // Stores the events and items, then builds a fold over the store with these definitions.
  std::unique_ptr<FeatureFold> Fold(const std::string& toml, const std::vector<events::Event>& evs,
                                    const std::vector<events::Item>& items = {}) {
    EXPECT_TRUE(store_->UpsertItems(items).ok());
    EXPECT_TRUE(store_->Append(evs).ok());
    auto specs = ParseFeatureSpecs(toml, "test.toml");
    EXPECT_TRUE(specs.ok()) << specs.status();
    auto fold = FeatureFold::Create(*specs, store_.get());
    EXPECT_TRUE(fold.ok()) << fold.status();
    EXPECT_TRUE(store_->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
      (*fold)->Apply(e);
      return true;
    }).ok());
    return std::move(*fold);
  }

  // The named feature of (user, item) at time t (seconds).
  double Get(const FeatureFold& fold, const std::string& name, const std::string& user,
             const std::string& item, double t) {
    std::vector<float> x(fold.names().size());
    fold.Compute(store_->FindUser(user).value_or(UserIdx{UINT32_MAX}),
                 store_->FindItem(item).value_or(ItemIdx{UINT32_MAX}), Timestamp::FromSeconds(t), x);
    for (size_t i = 0; i < x.size(); ++i)
      if (fold.names()[i] == name) return x[i];
    ADD_FAILURE() << "no feature " << name;
    return 0;
  }

  // Imports a small generated platform (items with categories, creators and durations; users
  // with attributes) into the store.
  void ImportSyntheticPlatform() {
    testing::TempDir gen;
    events::GeneratorOptions g;
    g.users = 150;
    g.items = 400;
    g.days = 2;
    g.seed = 3;
    g.out_dir = gen.path();
    ASSERT_TRUE(events::GeneratePlatform(g).ok());
    for (auto [file, kind] : {std::pair{"items.jsonl", events::RecordKind::kItem},
                              std::pair{"events.jsonl", events::RecordKind::kEvent}}) {
      auto r = events::ImportJsonLines(gen / file, kind, *store_, ImportConfig{}, {});
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  // Replays the store into a fold of `specs` and, every few events, compares Compute with
  // ComputeReference bit for bit on random (user, item, time) triples, unknown indexes
  // included. Returns the vectors compared.
  int ExpectComputeEqualsReference(const std::vector<FeatureSpec>& specs) {
    auto fold = FeatureFold::Create(specs, store_.get());
    EXPECT_TRUE(fold.ok()) << fold.status();
    if (!fold.ok()) return 0;
    const size_t n = (*fold)->names().size();
    std::vector<float> fast(n), slow(n);
    std::mt19937_64 rng(9);
    const int64_t offsets_us[] = {0, 1, 30'000'000, 5'400'000'000, 9 * 86'400'000'000LL};
    int compared = 0, events = 0;
    EXPECT_TRUE(store_->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
      if (++events % 2 == 0) {
        for (int k = 0; k < 4; ++k) {
          UserIdx user{k == 0 ? Raw(e.user) : static_cast<uint32_t>(rng() % (store_->NumUsers() + 2))};
          ItemIdx item{k == 0 ? Raw(e.item) : static_cast<uint32_t>(rng() % (store_->NumItems() + 2))};
          Timestamp t = Timestamp::FromMicros(e.ts.micros() + offsets_us[rng() % std::size(offsets_us)]);
          (*fold)->Compute(user, item, t, fast);
          (*fold)->ComputeReference(user, item, t, slow);
          for (size_t f = 0; f < n; ++f)
            if (std::memcmp(&fast[f], &slow[f], sizeof(float)) != 0) {
              ADD_FAILURE() << (*fold)->names()[f] << " of user " << Raw(user) << ", item " << Raw(item)
                            << " at " << t.micros() << ": Compute " << fast[f] << ", reference " << slow[f];
              return false;
            }
          ++compared;
        }
      }
      (*fold)->Apply(e);
      return true;
    }).ok());
    return compared;
  }

  testing::TempDir dir_;
  std::unique_ptr<store::EventStore> store_;
};

TEST_F(FoldTest, ComputeEqualsTheReferenceBitForBitWithTheShippedFeatures) {
  ImportSyntheticPlatform();
  EXPECT_GT(ExpectComputeEqualsReference(DefaultFeatureSpecs()), 4000);
}

TEST_F(FoldTest, ComputeEqualsTheReferenceBitForBitForEveryKindOfFeature) {
  ImportSyntheticPlatform();
  // Windows, every combine mode, means, last values, ratios of each entity, metadata and
  // attributes; a ratio listed before its parts.
  auto specs = ParseFeatureSpecs(R"(
[[features]]
name = "like_rate_w"
aggregation = "ratio"
numerator = "item_likes_w"
denominator = "item_views_w"
prior_mean = 0.05
prior_weight = 3.0
[[features]]
name = "item_likes_w"
entity = "item"
aggregation = "count"
types = { like = 1.0 }
window = "6h"
[[features]]
name = "item_views_w"
entity = "item"
aggregation = "count"
types = { impression = 1.0 }
window = "6h"
[[features]]
name = "user_watch_mean_w"
entity = "user"
aggregation = "mean"
types = { watch = 1.0 }
value = "watch_ratio"
window = "1d"
[[features]]
name = "user_last_watch"
entity = "user"
aggregation = "last"
types = { watch = 1.0 }
value = "value"
[[features]]
name = "global_views_2h"
entity = "global"
aggregation = "count"
types = { impression = 1.0 }
half_life = "2h"
[[features]]
name = "user_share_rate"
aggregation = "ratio"
numerator = "user_likes_3h"
denominator = "global_views_2h"
[[features]]
name = "user_likes_3h"
entity = "user"
aggregation = "sum"
types = { like = 2.0, share = 1.0 }
half_life = "3h"
[[features]]
name = "cat_max"
entity = "user_category"
aggregation = "count"
types = { like = 1.0, watch = 0.5 }
half_life = "3h"
combine = "max"
[[features]]
name = "cat_min"
entity = "user_category"
aggregation = "sum"
types = { like = 1.0 }
half_life = "1d"
combine = "min"
[[features]]
name = "cat_sum_w"
entity = "user_category"
aggregation = "count"
types = { impression = 1.0 }
window = "12h"
combine = "sum"
[[features]]
name = "cat_mean"
entity = "user_category"
aggregation = "mean"
types = { watch = 1.0 }
value = "value"
half_life = "3h"
combine = "mean"
[[features]]
name = "cat_since"
entity = "user_category"
aggregation = "time_since"
types = { like = 1.0 }
combine = "min"
[[features]]
name = "creator_likes"
entity = "user_creator"
aggregation = "count"
types = { like = 1.0 }
half_life = "1d"
[[features]]
name = "creator_last"
entity = "user_creator"
aggregation = "last"
types = { watch = 1.0 }
value = "value"
[[features]]
name = "recent_items"
entity = "user"
aggregation = "last_n"
types = { like = 1.0 }
last_n = 5
[[features]]
name = "item_age"
source = "item.age"
[[features]]
name = "item_category"
source = "item.category"
[[features]]
name = "item_creator"
source = "item.creator"
[[features]]
name = "item_duration"
source = "item.duration"
[[features]]
name = "user_age"
source = "user.attribute.age"
)", "test.toml");
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_GT(ExpectComputeEqualsReference(*specs), 4000);
}

TEST_F(FoldTest, DecayedCountHalvesEveryHalfLife) {
  auto fold = Fold(R"(
[[features]]
name = "likes"
entity = "user"
aggregation = "count"
types = { like = 1.0 }
half_life = "1d"
)",
                   {Ev("u", "a", "like", kT0), Ev("u", "b", "like", kT0 + kDay), Ev("u", "c", "click", kT0 + kDay)});
  EXPECT_NEAR(Get(*fold, "likes", "u", "a", kT0 + kDay), 1.5, 1e-6);
  EXPECT_NEAR(Get(*fold, "likes", "u", "a", kT0 + 3 * kDay), 0.375, 1e-6);
  EXPECT_EQ(Get(*fold, "likes", "nobody", "a", kT0), 0.0);
}

TEST_F(FoldTest, WindowedSumForgetsEventsOlderThanTheWindow) {
  auto fold = Fold(R"(
[[features]]
name = "watch_7d"
entity = "item"
aggregation = "sum"
types = { watch = 1.0 }
value = "value"
window = "7d"
)",
                   {Ev("u1", "a", "watch", kT0, 10), Ev("u2", "a", "watch", kT0 + 3 * kDay, 5)});
  EXPECT_EQ(Get(*fold, "watch_7d", "u1", "a", kT0 + 4 * kDay), 15.0);
  // Windows advance in 12 buckets of 14 h: 8 days on, only the second watch is inside.
  EXPECT_EQ(Get(*fold, "watch_7d", "u1", "a", kT0 + 8 * kDay), 5.0);
  EXPECT_EQ(Get(*fold, "watch_7d", "u1", "a", kT0 + 11 * kDay), 0.0);
}

TEST_F(FoldTest, MeanWatchRatioUsesItemDurationAndIsMissingWithoutData) {
  auto fold = Fold(R"(
[[features]]
name = "watch_ratio"
entity = "user"
aggregation = "mean"
types = { watch = 1.0 }
value = "watch_ratio"
)",
                   {Ev("u", "a", "watch", kT0, 10), Ev("u", "b", "watch", kT0 + 1, 30)},
                   {It("a", {"comedy"}, "c1", 20, kT0 - kDay), It("b", {"music"}, "c2", 30, kT0 - kDay)});
  EXPECT_NEAR(Get(*fold, "watch_ratio", "u", "a", kT0 + 2), (0.5 + 1.0) / 2, 1e-6);
  EXPECT_TRUE(std::isnan(Get(*fold, "watch_ratio", "stranger", "a", kT0 + 2)));
}

TEST_F(FoldTest, RatioIsSmoothedTowardItsPrior) {
  auto fold = Fold(R"(
[[features]]
name = "likes"
entity = "item"
aggregation = "count"
types = { like = 1.0 }
[[features]]
name = "views"
entity = "item"
aggregation = "count"
types = { impression = 1.0 }
[[features]]
name = "like_rate"
aggregation = "ratio"
numerator = "likes"
denominator = "views"
prior_mean = 0.1
prior_weight = 10.0
)",
                   {Ev("u1", "a", "impression", kT0), Ev("u2", "a", "impression", kT0), Ev("u1", "a", "like", kT0 + 1)});
  EXPECT_NEAR(Get(*fold, "like_rate", "u1", "a", kT0 + 2), (1 + 0.1 * 10) / (2 + 10), 1e-6);
  // An item never impressed has no rate: the prior alone is not data.
  EXPECT_TRUE(std::isnan(Get(*fold, "like_rate", "u1", "never-seen", kT0 + 2)));
}

// The shipped user_like_rate_1d read 1.06 for a user whose likes are logged without
// impressions: (4.8 decayed likes + 0.1 * 5) / (0 impressions + 5). With no denominator event the
// rate is missing, on every path; one impression is enough for a smoothed value again.
TEST_F(FoldTest, RatioOverNoDenominatorEventsIsMissingNotThePrior) {
  std::vector<events::Event> evs;
  for (int i = 0; i < 5; ++i) evs.push_back(Ev("liker", "a", "like", kT0 + i));
  evs.push_back(Ev("viewer", "a", "impression", kT0));
  evs.push_back(Ev("viewer", "a", "like", kT0 + 1));
  auto fold = Fold("", evs);  // no [[features]]: the shipped set
  const double t = kT0 + 0.1 * kDay;
  EXPECT_TRUE(std::isnan(Get(*fold, "user_like_rate_1d", "liker", "a", t)));
  EXPECT_TRUE(std::isnan(Get(*fold, "user_like_rate_7d", "liker", "a", t)));
  EXPECT_TRUE(std::isnan(Get(*fold, "user_skip_rate_1d", "liker", "a", t)));
  EXPECT_TRUE(std::isnan(Get(*fold, "user_like_rate_1d", "stranger", "a", t)));
  const double decay = std::exp2(-(t - kT0) / kDay), decay_like = std::exp2(-(t - kT0 - 1) / kDay);
  EXPECT_NEAR(Get(*fold, "user_like_rate_1d", "viewer", "a", t), (decay_like + 0.1 * 5) / (decay + 5), 1e-6);
  double item_likes = decay_like;  // the viewer's, then the liker's five
  for (int i = 0; i < 5; ++i) item_likes += std::exp2(-(t - kT0 - i) / kDay);
  EXPECT_NEAR(Get(*fold, "item_like_rate_1d", "viewer", "a", t), (item_likes + 0.1 * 20) / (decay + 20), 1e-6);
  // Fast path and reference agree on the missing values too.
  std::vector<float> fast(fold->names().size()), slow(fold->names().size());
  const UserIdx liker = *store_->FindUser("liker");
  fold->Compute(liker, *store_->FindItem("a"), Timestamp::FromSeconds(t), fast);
  fold->ComputeReference(liker, *store_->FindItem("a"), Timestamp::FromSeconds(t), slow);
  EXPECT_EQ(0, std::memcmp(fast.data(), slow.data(), fast.size() * sizeof(float)));
}

TEST_F(FoldTest, CategoryAffinityTakesTheBestOfTheItemsCategories) {
  auto fold = Fold(R"(
[[features]]
name = "cat_likes"
entity = "user_category"
aggregation = "count"
types = { like = 1.0 }
combine = "max"
[[features]]
name = "creator_likes"
entity = "user_creator"
aggregation = "count"
types = { like = 1.0 }
)",
                   {Ev("u", "a", "like", kT0), Ev("u", "b", "like", kT0 + 1), Ev("u", "c", "like", kT0 + 2)},
                   {It("a", {"comedy"}, "c1", 10, kT0), It("b", {"comedy", "pets"}, "c1", 10, kT0),
                    It("c", {"pets"}, "c2", 10, kT0), It("d", {"pets", "comedy"}, "c2", 10, kT0),
                    It("e", {"food"}, "c3", 10, kT0)});
  EXPECT_EQ(Get(*fold, "cat_likes", "u", "d", kT0 + 3), 2.0);  // comedy 2, pets 2
  EXPECT_EQ(Get(*fold, "cat_likes", "u", "e", kT0 + 3), 0.0);  // no state: a count's 0
  EXPECT_EQ(Get(*fold, "creator_likes", "u", "a", kT0 + 3), 2.0);
  EXPECT_EQ(Get(*fold, "creator_likes", "u", "d", kT0 + 3), 1.0);
}

TEST_F(FoldTest, TimeSinceLastAndStaticFeatures) {
  auto fold = Fold(R"(
[[features]]
name = "hours_since_like"
entity = "user"
aggregation = "time_since"
types = { like = 1.0 }
[[features]]
name = "item_age_hours"
source = "item.age"
[[features]]
name = "duration"
source = "item.duration"
)",
                   {Ev("u", "a", "like", kT0)}, {It("a", {"comedy"}, "c1", 42, kT0 - 7200)});
  EXPECT_NEAR(Get(*fold, "hours_since_like", "u", "a", kT0 + 5400), 1.5, 1e-6);
  EXPECT_NEAR(Get(*fold, "item_age_hours", "u", "a", kT0), 2.0, 1e-6);
  EXPECT_EQ(Get(*fold, "duration", "u", "a", kT0), 42.0);
  EXPECT_TRUE(std::isnan(Get(*fold, "hours_since_like", "v", "a", kT0)));
}

TEST_F(FoldTest, LastNKeepsTheNewestItemsNewestFirst) {
  auto fold = Fold(R"(
[[features]]
name = "recent"
entity = "user"
aggregation = "last_n"
types = { click = 1.0 }
last_n = 3
)",
                   {Ev("u", "a", "click", kT0), Ev("u", "b", "click", kT0 + 1), Ev("u", "x", "skip", kT0 + 2),
                    Ev("u", "c", "click", kT0 + 3), Ev("u", "d", "click", kT0 + 4)});
  std::vector<std::string> got;
  for (ItemIdx i : fold->LastItems(*store_->FindUser("u"), "recent")) got.push_back(store_->ItemName(i));
  EXPECT_EQ(got, (std::vector<std::string>{"d", "c", "b"}));
}

TEST_F(FoldTest, RecordsRoundTripIntoADetachedFoldBitForBit) {
  const std::string toml = R"(
[[features]]
name = "likes"
entity = "user"
aggregation = "count"
types = { like = 1.0, share = 2.0 }
half_life = "1h"
[[features]]
name = "item_watch"
entity = "item"
aggregation = "mean"
types = { watch = 1.0 }
value = "watch_ratio"
window = "1d"
[[features]]
name = "cat"
entity = "user_category"
aggregation = "count"
types = { like = 1.0 }
[[features]]
name = "duration"
source = "item.duration"
[[features]]
name = "year"
source = "item.attribute.year"
)";
  // Item z has events but no metadata: its record must still round-trip.
  auto fold = Fold(toml,
                   {Ev("u", "a", "like", kT0), Ev("u", "a", "watch", kT0 + 60, 7), Ev("v", "b", "share", kT0 + 90),
                    Ev("u", "b", "like", kT0 + 120), Ev("u", "z", "watch", kT0 + 130, 3)},
                   {It("a", {"comedy"}, "c1", 10, kT0), It("b", {"comedy", "pets"}, "c2", 20, kT0)});
  auto specs = ParseFeatureSpecs(toml, "test.toml");
  auto view = FeatureFold::CreateDetached(*specs);
  ASSERT_TRUE(view.ok());
  // Local indexes differ from the store's on purpose: records carry string ids.
  EntityResolver ids{[](std::string_view u) -> std::optional<UserIdx> {
                       if (u == "u") return UserIdx{7};
                       return std::nullopt;
                     },
                     [](std::string_view i) -> std::optional<ItemIdx> {
                       if (i == "a") return ItemIdx{3};
                       if (i == "b") return ItemIdx{0};
                       if (i == "z") return ItemIdx{5};
                       return std::nullopt;
                     }};
  int records = 0;
  fold->DrainChanges([&](std::string_view k, std::string_view v) {
    ++records;
    ASSERT_TRUE((*view)->Restore(k, v, ids).ok()) << k;
  });
  EXPECT_EQ(records, 7);  // users u, v; items a, b, z; u x comedy, u x pets (no global features)
  int again = 0;
  fold->DrainChanges([&](std::string_view, std::string_view) { ++again; });
  EXPECT_EQ(again, 0) << "a drain forgets what it handed out";

  for (auto [item, local] : {std::pair{"a", ItemIdx{3}}, std::pair{"b", ItemIdx{0}}, std::pair{"z", ItemIdx{5}}}) {
    std::vector<float> want(fold->names().size()), got(want.size());
    fold->Compute(*store_->FindUser("u"), *store_->FindItem(item), Timestamp::FromSeconds(kT0 + 500), want);
    (*view)->Compute(UserIdx{7}, local, Timestamp::FromSeconds(kT0 + 500), got);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << item;
  }
}

TEST_F(FoldTest, RecordsOfOtherDefinitionsOrTruncatedAreRefusedWithTheKey) {
  auto fold = Fold(R"(
[[features]]
name = "likes"
entity = "user"
aggregation = "count"
types = { like = 1.0 }
)",
                   {Ev("u", "a", "like", kT0)});
  std::string key, value;
  fold->DrainChanges([&](std::string_view k, std::string_view v) {
    if (k[0] == 'u') key = k, value = v;
  });
  ASSERT_FALSE(value.empty());
  auto other = ParseFeatureSpecs(R"(
[[features]]
name = "likes"
entity = "user"
aggregation = "count"
types = { like = 2.0 }
)", "other.toml");
  auto view = FeatureFold::CreateDetached(*other);
  EntityResolver ids{[](std::string_view) { return std::optional<UserIdx>(UserIdx{0}); }, nullptr};
  Status s = (*view)->Restore(key, value, ids);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(MessageOf(s)).find("layout"), std::string::npos) << s;

  auto same = FeatureFold::CreateDetached(*ParseFeatureSpecs(R"(
[[features]]
name = "likes"
entity = "user"
aggregation = "count"
types = { like = 1.0 }
)", "same.toml"));
  for (size_t cut : {size_t{0}, size_t{5}, value.size() - 1}) {
    Status t = (*same)->Restore(key, value.substr(0, cut), ids);
    EXPECT_EQ(t.code(), absl::StatusCode::kDataLoss) << "cut at " << cut;
    EXPECT_NE(std::string(MessageOf(t)).find("'uu'"), std::string::npos) << t;
  }
  EXPECT_TRUE((*same)->Restore(key, value, ids).ok());
}

}  // namespace
}  // namespace funnel::features
