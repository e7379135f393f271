// The label rule itself, then the places that label events (the evaluation protocol, the
// retrieval training set, the feature dataset builder) against it, event by event.
#include "funnel/events/labels.h"

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "funnel/eval/protocol.h"
#include "funnel/features/dataset_builder.h"
#include "funnel/retrieval/training_set.h"
#include "support/temp_dir.h"

namespace funnel::events {
namespace {

TEST(LabelRuleTest, EachStandardTypeHasItsRoleUnderTheDefaultConfig) {
  const LabelRule rule{EventsConfig{}};
  const std::map<std::string, LabelRole> want = {
      {"impression", LabelRole::kExposure}, {"click", LabelRole::kPositive},   {"view", LabelRole::kPositive},
      {"watch", LabelRole::kPositive},      {"like", LabelRole::kPositive},    {"dislike", LabelRole::kNegative},
      {"share", LabelRole::kPositive},      {"skip", LabelRole::kNegative},    {"rating", LabelRole::kRating},
      {"purchase", LabelRole::kPositive},   {"add_to_cart", LabelRole::kPositive}};
  ASSERT_EQ(want.size(), std::size(kStandardTypes));
  for (const char* type : kStandardTypes) {
    SCOPED_TRACE(type);
    EXPECT_EQ(rule.OfType(type).role, want.at(type));
    const bool positive = want.at(type) == LabelRole::kPositive;
    EXPECT_EQ(rule.IsPositive(type, std::nullopt), positive);
    EXPECT_EQ(rule.IsPositive(type, 1.0), positive);  // a value changes nothing but for ratings
  }
  EXPECT_TRUE(rule.OfType("like").like);
  EXPECT_TRUE(rule.OfType("share").share);
  EXPECT_TRUE(rule.OfType("skip").skip);
  EXPECT_TRUE(rule.OfType("watch").watch);
  EXPECT_TRUE(rule.OfType("view").watch);
  EXPECT_FALSE(rule.OfType("click").watch);
}

TEST(LabelRuleTest, ARatingIsPositiveFromTheThresholdUpAndNeverWithoutAValue) {
  EventsConfig cfg;
  cfg.rating_positive_threshold = 3.5;
  const LabelRule rule(cfg);
  EXPECT_FALSE(rule.IsPositive("rating", 3.0));
  EXPECT_FALSE(rule.IsPositive("rating", 3.4999));
  EXPECT_TRUE(rule.IsPositive("rating", 3.5));
  EXPECT_TRUE(rule.IsPositive("rating", 5.0));
  EXPECT_FALSE(rule.IsPositive("rating", std::nullopt));
  EXPECT_EQ(rule.rating_threshold(), 3.5);
  EXPECT_FALSE(LabelRule(EventsConfig{}).IsPositive("rating", 3.5));  // default threshold 4
  EXPECT_TRUE(LabelRule(EventsConfig{}).IsPositive("rating", 4.0));
}

TEST(LabelRuleTest, ARatingKeepsItsThresholdEvenWhenListedAsAPositiveType) {
  EventsConfig cfg;
  cfg.positive_types = {"like", "rating"};
  const LabelRule rule(cfg);
  EXPECT_EQ(rule.OfType("rating").role, LabelRole::kRating);
  EXPECT_FALSE(rule.IsPositive("rating", 2.0));
  EXPECT_TRUE(rule.IsPositive("rating", 4.0));
}

TEST(LabelRuleTest, PositiveTypesComeFromTheConfigAndAListedNegativeBecomesPositive) {
  EventsConfig cfg;
  cfg.positive_types = {"like", "skip", "play"};
  const LabelRule rule(cfg);
  EXPECT_TRUE(rule.IsPositive("like", std::nullopt));
  EXPECT_FALSE(rule.IsPositive("click", std::nullopt));  // not listed any more
  EXPECT_EQ(rule.OfType("click").role, LabelRole::kNone);
  EXPECT_EQ(rule.OfType("skip").role, LabelRole::kPositive);
  EXPECT_EQ(rule.OfType("dislike").role, LabelRole::kNegative);
  EXPECT_TRUE(rule.IsPositive("play", std::nullopt));  // a custom type, listed
}

TEST(LabelRuleTest, UnknownTypesLabelNothingAndTypesAreMatchedCaseSensitively) {
  const LabelRule rule{EventsConfig{}};
  for (const char* type : {"play", "bookmark", "", "Like", "LIKE", "Impression", "Rating", "Skip"}) {
    SCOPED_TRACE(type);
    EXPECT_EQ(rule.OfType(type).role, LabelRole::kNone);
    EXPECT_FALSE(rule.IsPositive(type, 5.0));
    EXPECT_FALSE(rule.OfType(type).like || rule.OfType(type).skip);
  }
}

TEST(LabelRuleTest, TypeLabelsResolveEachIndexOnceAndAgreeWithTheRule) {
  const std::vector<std::string> names = {"rating", "like", "impression", "play", "skip"};
  int lookups = 0;
  TypeLabels labels(LabelRule(EventsConfig{}), [&](TypeIdx t) {
    ++lookups;
    return names[Raw(t)];
  });
  for (int pass = 0; pass < 3; ++pass)
    for (uint16_t t = 0; t < names.size(); ++t) {
      EXPECT_EQ(labels[TypeIdx{t}].role, labels.rule().OfType(names[t]).role);
      EXPECT_EQ(labels.IsPositive(TypeIdx{t}, 4.0), labels.rule().IsPositive(names[t], 4.0));
    }
  EXPECT_EQ(lookups, static_cast<int>(names.size()));
  EXPECT_TRUE(labels.IsPositive(TypeIdx{0}, 4.0));
  EXPECT_FALSE(labels.IsPositive(TypeIdx{0}, 3.0));
}

// ---- the places that label events agree with the rule ----

Event Ev(std::string user, std::string item, std::string type, double ts, std::optional<double> value) {
  Event e;
  e.user = std::move(user);
  e.item = std::move(item);
  e.type = std::move(type);
  e.ts = Timestamp::FromSeconds(ts);
  e.value = value;
  return e;
}

// Every standard type, a custom one and ratings on both sides of the thresholds (with and
// without a value), from several users on several items, in time order.
std::vector<Event> EveryKindOfEvent() {
  std::vector<Event> out;
  std::vector<std::pair<std::string, std::optional<double>>> kinds;
  for (const char* t : kStandardTypes) kinds.push_back({t, std::nullopt});
  for (double v : {1.0, 3.0, 3.5, 3.99, 4.0, 5.0}) kinds.push_back({"rating", v});
  kinds.push_back({"watch", 30.0});
  kinds.push_back({"play", std::nullopt});
  kinds.push_back({"Like", std::nullopt});
  double ts = 1700000000;
  for (int round = 0; round < 3; ++round)
    for (size_t k = 0; k < kinds.size(); ++k)
      out.push_back(Ev(Cat("u", (k + round) % 4), Cat("i", (3 * k + round) % 11), kinds[k].first, ts += 60,
                       kinds[k].second));
  return out;
}

TEST(LabelRuleTest, TheProtocolTheTrainingSetAndTheDatasetBuilderLabelEveryEventAsTheRuleDoes) {
  testing::TempDir dir;
  auto opened = store::EventStore::Open({.path = dir / "events", .sync = false});
  ASSERT_TRUE(opened.ok()) << opened.status();
  store::EventStore& store = **opened;
  ASSERT_TRUE(store.Append(EveryKindOfEvent()).ok());

  EventsConfig strict;
  strict.positive_types = {"like", "rating", "skip", "play"};
  strict.rating_positive_threshold = 3.5;
  for (const EventsConfig& cfg : {EventsConfig{}, strict}) {
    SCOPED_TRACE(cfg.rating_positive_threshold);
    const LabelRule rule(cfg);
    const eval::PositiveRule protocol(store, cfg);
    retrieval::StrengthRule strength(store, cfg, retrieval::TrainingSetOptions{});
    features::DatasetOptions opt;
    opt.negatives_per_positive = 0;
    opt.threads = 1;
    const std::string rows_path = dir / Cat("rows-", cfg.rating_positive_threshold, ".tsv");
    ASSERT_TRUE(features::BuildDataset(store, features::DefaultFeatureSpecs(), cfg, opt, rows_path).ok());
    auto rows = features::ReadDataset(rows_path, nullptr);
    ASSERT_TRUE(rows.ok()) << rows.status();
    std::map<uint64_t, float> engagement_label;
    for (const auto& r : *rows)
      if (r.kind == "engagement") engagement_label[r.seq] = r.labels[0];
    auto training = retrieval::BuildTrainingSet(store, cfg, Timestamp::Max(), retrieval::TrainingSetOptions{});
    ASSERT_TRUE(training.ok()) << training.status();
    std::set<std::tuple<int64_t, uint32_t, uint32_t>> training_positives;
    for (const auto& p : training->positives) training_positives.insert({p.ts_us, p.user, p.item});

    size_t positives = 0;
    ASSERT_TRUE(store.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
      const std::string type = store.TypeName(e.type);
      SCOPED_TRACE(Cat(type, " ", e.value.value_or(-1)));
      const bool want = rule.IsPositive(type, e.value);
      positives += want;
      EXPECT_EQ(protocol(e), want);
      EXPECT_EQ(strength.Positive(e.type, e.value), want);
      EXPECT_EQ(retrieval::IsPositiveEvent(cfg, type, e.value), want);
      EXPECT_EQ(training_positives.contains({e.ts.micros(), Raw(e.user), Raw(e.item)}), want);
      // The builder writes an engagement row for positive-type and rating events, labelled 1
      // exactly when the rule says positive.
      const LabelRole role = rule.OfType(type).role;
      const bool engagement = role == LabelRole::kPositive || role == LabelRole::kRating;
      EXPECT_EQ(engagement_label.contains(e.seq), engagement);
      if (engagement && engagement_label.contains(e.seq)) {
        EXPECT_EQ(engagement_label[e.seq], want ? 1.0f : 0.0f);
      }
      return true;
    }).ok());
    EXPECT_GT(positives, 0u);
  }
}

}  // namespace
}  // namespace funnel::events
