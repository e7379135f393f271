#include "funnel/eval/protocol.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace funnel::eval {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

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

class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::EventStoreOptions opts;
    opts.path = dir_ / "events";
    opts.sync = false;
    auto opened = store::EventStore::Open(opts);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
  }

  void Append(std::vector<events::Event> batch) {
    auto r = store_->Append(batch);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  ItemIdx Item(const std::string& name) const {
    auto i = store_->FindItem(name);
    EXPECT_TRUE(i.has_value()) << name;
    return i.value_or(ItemIdx{});
  }
  UserIdx User(const std::string& name) const {
    auto u = store_->FindUser(name);
    EXPECT_TRUE(u.has_value()) << name;
    return u.value_or(UserIdx{});
  }
  std::vector<ItemIdx> Items(std::initializer_list<const char*> names) const {
    std::vector<ItemIdx> out;
    for (const char* n : names) out.push_back(Item(n));
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> UserNames(const Split& s) const {
    std::vector<std::string> out;
    for (const TestUser& u : s.users) out.push_back(store_->UserName(u.user));
    return out;
  }
  const TestUser* Find(const Split& s, const std::string& user) const {
    for (const TestUser& u : s.users)
      if (store_->UserName(u.user) == user) return &u;
    return nullptr;
  }

  // Twenty events at t = 1..20 s: w clicks x2 at 1, h clicks x1 at 2 and x3..x18 at 3..18,
  // then h re-clicks x3 at 19 and w clicks x1 at 20.
  void AppendTwentyEvents() {
    std::vector<events::Event> batch = {Ev("w", "x2", "click", 1)};
    for (int t = 2; t <= 18; ++t) batch.push_back(Ev("h", t == 2 ? "x1" : "x" + std::to_string(t), "click", t));
    batch.push_back(Ev("h", "x3", "click", 19));
    batch.push_back(Ev("w", "x1", "click", 20));
    Append(batch);
  }

  testing::TempDir dir_;
  std::unique_ptr<store::EventStore> store_;
  EventsConfig cfg_;
};

TEST_F(ProtocolTest, SplitKeepsOnlySeenUntouchedPositivesOfUsersWithHistory) {
  Append({
      // Before the cutoff (100).
      Ev("alice", "a", "click", 10), Ev("alice", "b", "view", 20), Ev("bob", "c", "impression", 30),
      Ev("carol", "a", "click", 40),
      // The window [100, 200).
      Ev("alice", "c", "click", 100),       // at the cutoff: test side; c was seen (bob's impression)
      Ev("alice", "b", "click", 110),       // alice's own item: not truth
      Ev("alice", "e", "click", 120),       // e unseen before the cutoff: not truth
      Ev("bob", "a", "click", 130),         // bob's own c came from an impression: he still counts
      Ev("dave", "a", "click", 140),        // no history before the cutoff: not a test user
      Ev("carol", "b", "impression", 150),  // not a positive
      Ev("carol", "e", "click", 160),       // cold item: carol's truth ends up empty
      // After the window.
      Ev("bob", "b", "click", 250),
  });
  auto split = MakeSplit(*store_, cfg_, Timestamp::FromSeconds(100), Timestamp::FromSeconds(200));
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->fold, 0);
  EXPECT_EQ(split->train_events, 4u);
  EXPECT_EQ(split->window_events, 7u);
  EXPECT_EQ(split->catalog, Items({"a", "b", "c"}));
  EXPECT_THAT(UserNames(*split), ElementsAre("alice", "bob"));
  const TestUser* alice = Find(*split, "alice");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->truth, Items({"c"}));
  EXPECT_EQ(alice->own, Items({"a", "b"}));  // not c or e, touched at/after the cutoff
  const TestUser* bob = Find(*split, "bob");
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(bob->truth, Items({"a"}));
  EXPECT_EQ(bob->own, Items({"c"}));
}

TEST_F(ProtocolTest, EventsAtTheCutoffTimeAreNeitherCatalogNorOwn) {
  Append({Ev("u", "a", "click", 1), Ev("v", "b", "click", 5), Ev("u", "b", "click", 5),
          Ev("v", "a", "click", 6)});
  auto split = MakeSplit(*store_, cfg_, Timestamp::FromSeconds(5), Timestamp::FromSeconds(10));
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->train_events, 1u);
  EXPECT_EQ(split->catalog, Items({"a"}));  // b first appears at the cutoff itself
  // u's click on b at the cutoff is not truth (b unseen before it); v has no history.
  EXPECT_THAT(split->users, IsEmpty());
}

TEST_F(ProtocolTest, RatingsArePositivesFromTheThresholdAndImplicitTypesFromTheConfig) {
  Append({
      Ev("u", "a", "rating", 1, 5), Ev("u", "b", "rating", 2, 1), Ev("u", "c", "rating", 3, 2),
      Ev("u", "d", "click", 4), Ev("u", "e", "like", 5), Ev("x", "z", "click", 6),
      // Window: user y rates and clicks; y has history.
      Ev("y", "z", "view", 7),
      Ev("y", "a", "rating", 10, 4), Ev("y", "b", "rating", 11, 3.5), Ev("y", "c", "rating", 12),
      Ev("y", "d", "click", 13), Ev("y", "e", "like", 14),
  });
  const Timestamp c = Timestamp::FromSeconds(10), end = Timestamp::FromSeconds(20);
  auto defaults = MakeSplit(*store_, cfg_, c, end);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  ASSERT_EQ(defaults->users.size(), 1u);
  // rating 4 counts, 3.5 does not, a rating without a value does not; click and like do.
  EXPECT_EQ(defaults->users[0].truth, Items({"a", "d", "e"}));

  EventsConfig strict = cfg_;
  strict.rating_positive_threshold = 5;
  strict.positive_types = {"like", "rating"};  // rating keeps its threshold rule
  auto custom = MakeSplit(*store_, strict, c, end);
  ASSERT_TRUE(custom.ok()) << custom.status();
  ASSERT_EQ(custom->users.size(), 1u);
  EXPECT_EQ(custom->users[0].truth, Items({"e"}));

  PositiveRule rule(*store_, cfg_);
  store::StoredEvent e;
  e.type = *store_->FindType("rating");
  e.value = 4.0;
  EXPECT_TRUE(rule(e));
  e.value = 3.99;
  EXPECT_FALSE(rule(e));
  e.type = *store_->FindType("view");
  EXPECT_TRUE(rule(e));
  e.type = TypeIdx{999};  // unknown to the store
  EXPECT_FALSE(rule(e));
}

TEST_F(ProtocolTest, FoldCutoffsFallOnTheEventsAtEachTenth) {
  AppendTwentyEvents();
  auto folds = RollingFolds(*store_, cfg_, {});
  ASSERT_TRUE(folds.ok()) << folds.status();
  ASSERT_EQ(folds->size(), 5u);
  // N = 20: fold f's cutoff is the event at index ⌊(0.4 + 0.1 f)·20⌋ = 10, 12, ..., 18 (t = 11..19).
  for (int f = 0; f < 5; ++f) {
    const Split& s = (*folds)[f];
    EXPECT_EQ(s.fold, f + 1);
    EXPECT_EQ(s.cutoff, Timestamp::FromSeconds(11 + 2 * f)) << "fold " << f + 1;
    EXPECT_EQ(s.train_events, uint64_t(10 + 2 * f));
    EXPECT_EQ(s.window_events, 2u);
    if (f < 4) {
      EXPECT_EQ(s.end, Timestamp::FromSeconds(13 + 2 * f));
    }
  }
}

TEST_F(ProtocolTest, LastFoldIncludesTheFinalEvent) {
  AppendTwentyEvents();
  auto folds = RollingFolds(*store_, cfg_, {});
  ASSERT_TRUE(folds.ok()) << folds.status();
  const Split& last = folds->back();
  EXPECT_EQ(last.end, Timestamp::FromMicros(Timestamp::FromSeconds(20).micros() + 1));
  // Window {h re-clicks own x3 at 19, w clicks x1 at 20}: only w's final event is truth.
  ASSERT_EQ(last.users.size(), 1u);
  EXPECT_EQ(last.users[0].user, User("w"));
  EXPECT_EQ(last.users[0].truth, Items({"x1"}));
  EXPECT_EQ(last.users[0].own, Items({"x2"}));
  for (size_t f = 0; f + 1 < folds->size(); ++f) EXPECT_THAT((*folds)[f].users, IsEmpty());
}

TEST_F(ProtocolTest, EventsTiedWithTheCutoffEventAllGoToTheWindow) {
  // Indexes 0..8 at t = 1..9, indexes 9..11 share t = 10, then t = 11..18: N = 20, so fold 1's
  // cutoff is the event at index 10 (t = 10) and index 9, at the same time, is in its window.
  std::vector<events::Event> batch;
  for (int t = 1; t <= 9; ++t) batch.push_back(Ev("h", "x" + std::to_string(t), "click", t));
  batch.push_back(Ev("h", "x1", "click", 10));
  batch.push_back(Ev("w", "x9", "view", 10));
  batch.push_back(Ev("h", "x2", "click", 10));
  for (int t = 11; t <= 18; ++t) batch.push_back(Ev("h", "x" + std::to_string(t), "click", t));
  Append(batch);
  auto folds = RollingFolds(*store_, cfg_, {});
  ASSERT_TRUE(folds.ok()) << folds.status();
  const Split& first = folds->front();
  EXPECT_EQ(first.cutoff, Timestamp::FromSeconds(10));
  EXPECT_EQ(first.train_events, 9u);
  EXPECT_EQ(first.window_events, 3u);  // the three at t = 10; fold 2's cutoff (index 12) is t = 11
  EXPECT_THAT(first.users, IsEmpty());  // w has no history before t = 10
}

TEST_F(ProtocolTest, ValidationWindowHoldsTheLastFractionOfTheTrainingEvents) {
  AppendTwentyEvents();
  // The 10 events before t = 11: the window starts at index ⌊0.9·10⌋ = 9 (t = 10).
  auto v = ValidationSplit(*store_, cfg_, Timestamp::FromSeconds(11), 0.1);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->fold, 0);
  EXPECT_EQ(v->cutoff, Timestamp::FromSeconds(10));
  EXPECT_EQ(v->end, Timestamp::FromSeconds(11));
  EXPECT_EQ(v->train_events, 9u);
  EXPECT_EQ(v->window_events, 1u);
  // Twenty events before t = 21, a quarter of them: index ⌊0.75·20⌋ = 15 (t = 16).
  auto q = ValidationSplit(*store_, cfg_, Timestamp::FromSeconds(21), 0.25);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->cutoff, Timestamp::FromSeconds(16));
  EXPECT_EQ(q->window_events, 5u);
  ASSERT_EQ(q->users.size(), 1u);
  EXPECT_EQ(q->users[0].user, User("w"));
}

TEST_F(ProtocolTest, BadArgumentsAndTooFewEventsAreErrors) {
  std::vector<events::Event> nine;
  for (int t = 1; t <= 9; ++t) nine.push_back(Ev("h", "x" + std::to_string(t), "click", t));
  Append(nine);
  EXPECT_EQ(RollingFolds(*store_, cfg_, {}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RollingFolds(*store_, cfg_, {.folds = 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RollingFolds(*store_, cfg_, {.folds = 10}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeSplit(*store_, cfg_, Timestamp::FromSeconds(5), Timestamp::FromSeconds(5)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidationSplit(*store_, cfg_, Timestamp::FromSeconds(5), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidationSplit(*store_, cfg_, Timestamp::FromSeconds(5), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  // One event before t = 2: no room for both a training part and a window.
  EXPECT_EQ(ValidationSplit(*store_, cfg_, Timestamp::FromSeconds(2), 0.5).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// The exact twin: every event in memory, each split computed from its definition.
struct NaiveEvent {
  Timestamp ts;
  UserIdx user;
  ItemIdx item;
  bool positive;
};

Split NaiveSplit(const std::vector<NaiveEvent>& all, Timestamp cutoff, Timestamp end) {
  Split s;
  s.cutoff = cutoff;
  s.end = end;
  std::set<ItemIdx> catalog;
  std::map<UserIdx, std::set<ItemIdx>> own, window;
  for (const NaiveEvent& e : all) {
    if (e.ts < cutoff) {
      ++s.train_events;
      catalog.insert(e.item);
      own[e.user].insert(e.item);
    } else if (e.ts < end) {
      ++s.window_events;
      if (e.positive) window[e.user].insert(e.item);
    }
  }
  s.catalog.assign(catalog.begin(), catalog.end());
  for (const auto& [user, items] : window) {
    if (!own.contains(user)) continue;
    TestUser tu;
    tu.user = user;
    tu.own.assign(own[user].begin(), own[user].end());
    for (ItemIdx i : items)
      if (catalog.contains(i) && !own[user].contains(i)) tu.truth.push_back(i);
    if (!tu.truth.empty()) s.users.push_back(std::move(tu));
  }
  return s;
}

TEST_F(ProtocolTest, RollingFoldsMatchTheNaiveDefinitionOnRandomEvents) {
  std::mt19937 rng(7);
  const char* types[] = {"click", "impression", "rating", "skip", "like"};
  std::vector<events::Event> batch;
  for (int k = 0; k < 600; ++k) {
    double ts = 1000 + static_cast<int>(rng() % 300);  // many ties
    std::string type = types[rng() % 5];
    std::optional<double> value;
    if (type == "rating") value = 1 + static_cast<int>(rng() % 5);
    events::Event e = Ev("u" + std::to_string(rng() % 25), "i" + std::to_string(rng() % 40), type, ts, value);
    e.id = std::to_string(k);
    batch.push_back(e);
  }
  Append(batch);

  PositiveRule rule(*store_, cfg_);
  std::vector<NaiveEvent> all;
  ASSERT_TRUE(store_->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    all.push_back({e.ts, e.user, e.item, rule(e)});
    return true;
  }).ok());
  std::vector<Timestamp> sorted;
  for (const NaiveEvent& e : all) sorted.push_back(e.ts);
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();

  auto folds = RollingFolds(*store_, cfg_, {});
  ASSERT_TRUE(folds.ok()) << folds.status();
  ASSERT_EQ(folds->size(), 5u);
  size_t pairs = 0;
  for (int f = 1; f <= 5; ++f) {
    Timestamp c = sorted[(4 + f) * n / 10];
    Timestamp end = f < 5 ? sorted[(5 + f) * n / 10] : Timestamp::FromMicros(sorted.back().micros() + 1);
    Split want = NaiveSplit(all, c, end);
    const Split& got = (*folds)[f - 1];
    EXPECT_EQ(got.cutoff, want.cutoff) << "fold " << f;
    EXPECT_EQ(got.end, want.end) << "fold " << f;
    EXPECT_EQ(got.train_events, want.train_events) << "fold " << f;
    EXPECT_EQ(got.window_events, want.window_events) << "fold " << f;
    EXPECT_EQ(got.catalog, want.catalog) << "fold " << f;
    ASSERT_EQ(got.users.size(), want.users.size()) << "fold " << f;
    for (size_t u = 0; u < want.users.size(); ++u) {
      EXPECT_EQ(got.users[u].user, want.users[u].user);
      EXPECT_EQ(got.users[u].truth, want.users[u].truth);
      EXPECT_EQ(got.users[u].own, want.users[u].own);
    }
    pairs += got.users.size();
  }
  EXPECT_GT(pairs, 10u);  // the data exercise the filters, not just empty folds

  // Validation split: the twin again, on the events before fold 3's cutoff.
  Timestamp train_end = (*folds)[2].cutoff;
  size_t m = 0;
  while (m < n && sorted[m] < train_end) ++m;
  auto v = ValidationSplit(*store_, cfg_, train_end, 0.2);
  ASSERT_TRUE(v.ok()) << v.status();
  Split want = NaiveSplit(all, sorted[m * 8 / 10], train_end);
  EXPECT_EQ(v->cutoff, want.cutoff);
  EXPECT_EQ(v->catalog, want.catalog);
  ASSERT_EQ(v->users.size(), want.users.size());
  for (size_t u = 0; u < want.users.size(); ++u) EXPECT_EQ(v->users[u].truth, want.users[u].truth);
}

}  // namespace
}  // namespace funnel::eval
