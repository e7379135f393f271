#include "funnel/store/event_store.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace funnel::store {
namespace {

using events::Event;

Event MakeEvent(std::string user, std::string item, std::string type, double ts,
                std::string id = "") {
  Event e;
  e.user = std::move(user);
  e.item = std::move(item);
  e.type = std::move(type);
  e.ts = Timestamp::FromSeconds(ts);
  e.id = std::move(id);
  return e;
}

std::unique_ptr<EventStore> OpenStore(const std::string& path, bool read_only = false) {
  EventStoreOptions opts;
  opts.path = path;
  opts.read_only = read_only;
  opts.create_if_missing = !read_only;
  auto store = EventStore::Open(opts);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

std::vector<std::pair<double, std::string>> ReplayAll(const EventStore& store, double from, double to) {
  std::vector<std::pair<double, std::string>> out;
  Status s = store.Replay(Timestamp::FromSeconds(from), Timestamp::FromSeconds(to),
                          [&](const StoredEvent& e) {
                            out.emplace_back(e.ts.seconds(), store.ItemName(e.item));
                            return true;
                          });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(EventStoreTest, ReplayIsInTimeOrderWhateverTheArrivalOrder) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::vector<Event> batch = {MakeEvent("u1", "c", "click", 30), MakeEvent("u2", "a", "click", 10),
                              MakeEvent("u1", "b", "like", 20)};
  ASSERT_TRUE(store->Append(batch).ok());
  ASSERT_TRUE(store->Append(std::vector{MakeEvent("u3", "d", "view", 15)}).ok());
  auto all = ReplayAll(*store, 0, 100);
  std::vector<std::pair<double, std::string>> want = {{10, "a"}, {15, "d"}, {20, "b"}, {30, "c"}};
  EXPECT_EQ(all, want);
}

TEST(EventStoreTest, ReplayRangeIsHalfOpen) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::vector<Event> batch;
  for (int t = 1; t <= 10; ++t) batch.push_back(MakeEvent("u", "i" + std::to_string(t), "click", t));
  ASSERT_TRUE(store->Append(batch).ok());
  auto part = ReplayAll(*store, 3, 6);
  ASSERT_EQ(part.size(), 3u);
  EXPECT_EQ(part.front().first, 3);
  EXPECT_EQ(part.back().first, 5);
  EXPECT_TRUE(ReplayAll(*store, 6, 6).empty());
  EXPECT_TRUE(ReplayAll(*store, 7, 2).empty());
}

TEST(EventStoreTest, ReplayStopsWhenCallbackReturnsFalse) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->Append(std::vector{MakeEvent("u", "a", "click", 1), MakeEvent("u", "b", "click", 2)}).ok());
  int seen = 0;
  ASSERT_TRUE(store->Replay(Timestamp::Min(), Timestamp::Max(), [&](const StoredEvent&) {
    ++seen;
    return false;
  }).ok());
  EXPECT_EQ(seen, 1);
}

TEST(EventStoreTest, SameTimestampKeepsArrivalOrder) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->Append(std::vector{MakeEvent("u", "first", "click", 5)}).ok());
  ASSERT_TRUE(store->Append(std::vector{MakeEvent("u", "second", "click", 5)}).ok());
  auto all = ReplayAll(*store, 0, 10);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].second, "first");
  EXPECT_EQ(all[1].second, "second");
}

TEST(EventStoreTest, DuplicateIdsAreStoredOnce) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  auto r1 = store->Append(std::vector{MakeEvent("u", "a", "click", 1, "e1"), MakeEvent("u", "a", "click", 1, "e1"),
                                      MakeEvent("u", "b", "click", 2, "e2")});
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->accepted, 2u);
  EXPECT_EQ(r1->duplicates, 1u);
  auto r2 = store->Append(std::vector{MakeEvent("u", "b", "click", 2, "e2"), MakeEvent("u", "c", "click", 3, "e3")});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->accepted, 1u);
  EXPECT_EQ(r2->duplicates, 1u);
  EXPECT_EQ(store->Stats().events, 3u);
  EXPECT_EQ(ReplayAll(*store, 0, 10).size(), 3u);
}

TEST(EventStoreTest, EventsWithoutIdDedupeOnContent) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->Append(std::vector{MakeEvent("u", "a", "click", 1)}).ok());
  auto r = store->Append(std::vector{MakeEvent("u", "a", "click", 1), MakeEvent("u", "a", "click", 2),
                                     MakeEvent("u", "a", "like", 1)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(r->duplicates, 1u);
}

TEST(EventStoreTest, StateSurvivesReopen) {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store->Append(std::vector{MakeEvent("alice", "x", "like", 100, "e1"),
                                          MakeEvent("bob", "y", "click", 50, "e2")}).ok());
  }
  auto store = OpenStore(dir.path());
  EXPECT_EQ(store->NumUsers(), 2u);
  EXPECT_EQ(store->NumItems(), 2u);
  ASSERT_TRUE(store->FindUser("bob").has_value());
  EXPECT_EQ(store->UserName(*store->FindUser("bob")), "bob");
  StoreStats st = store->Stats();
  EXPECT_EQ(st.events, 2u);
  EXPECT_EQ(st.first_ts->seconds(), 50);
  EXPECT_EQ(st.last_ts->seconds(), 100);
  // Dedupe state is durable too, and new users continue the dense numbering.
  auto r = store->Append(std::vector{MakeEvent("alice", "x", "like", 100, "e1"), MakeEvent("carol", "x", "like", 1, "e3")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->duplicates, 1u);
  EXPECT_EQ(Raw(*store->FindUser("carol")), 2u);
}

TEST(EventStoreTest, UserHistoryIsPerUserInTimeOrder) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->Append(std::vector{MakeEvent("u1", "c", "click", 30), MakeEvent("u2", "z", "click", 5),
                                        MakeEvent("u1", "a", "like", 10), MakeEvent("u1", "b", "view", 20)}).ok());
  std::vector<std::string> items;
  ASSERT_TRUE(store->UserHistory(*store->FindUser("u1"), Timestamp::Min(), Timestamp::FromSeconds(30),
                                 [&](const HistoryEntry& h) {
                                   items.push_back(store->ItemName(h.item));
                                   return true;
                                 }).ok());
  EXPECT_EQ(items, (std::vector<std::string>{"a", "b"}));
}

TEST(EventStoreTest, ReplayCarriesEveryField) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  Event e = MakeEvent("u", "i", "watch", 7.25, "e9");
  e.value = 12.5;
  e.request_id = "r1";
  e.context = R"({"device":"ios"})";
  ASSERT_TRUE(store->Append(std::vector{e}).ok());
  int n = 0;
  ASSERT_TRUE(store->Replay(Timestamp::Min(), Timestamp::Max(), [&](const StoredEvent& s) {
    ++n;
    EXPECT_EQ(s.ts.micros(), 7250000);
    EXPECT_EQ(store->TypeName(s.type), "watch");
    EXPECT_EQ(s.value, 12.5);
    EXPECT_EQ(s.id, "e9");
    EXPECT_EQ(s.request_id, "r1");
    EXPECT_EQ(s.context, R"({"device":"ios"})");
    return true;
  }).ok());
  EXPECT_EQ(n, 1);
}

TEST(EventStoreTest, ItemsAndUsersUpsert) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  events::Item item{"v1", Timestamp::FromSeconds(10), {"comedy"}, "c1", R"({"duration":30})"};
  ASSERT_TRUE(store->UpsertItems(std::vector{item}).ok());
  item.categories = {"drama"};
  ASSERT_TRUE(store->UpsertItems(std::vector{item}).ok());
  ASSERT_TRUE(store->UpsertUsers(std::vector{events::User{"u1", R"({"age":30})"}}).ok());
  StoreStats st = store->Stats();
  EXPECT_EQ(st.items_with_metadata, 1u);
  EXPECT_EQ(st.users_with_attributes, 1u);
  auto got = store->GetItem(*store->FindItem("v1"));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->categories, (std::vector<std::string>{"drama"}));
  EXPECT_EQ((*got)->creator, "c1");
  auto user = store->GetUser(*store->FindUser("u1"));
  ASSERT_TRUE(user.ok() && user->has_value());
  EXPECT_EQ((*user)->attributes, R"({"age":30})");
  // An item known only from events has no metadata: a value, not an error.
  ASSERT_TRUE(store->Append(std::vector{MakeEvent("u1", "v2", "click", 1)}).ok());
  auto none = store->GetItem(*store->FindItem("v2"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

events::Item GetItemOf(const EventStore& store, const std::string& id) {
  auto idx = store.FindItem(id);
  EXPECT_TRUE(idx.has_value()) << id;
  if (!idx) return {};
  auto got = store.GetItem(*idx);
  EXPECT_TRUE(got.ok() && got->has_value()) << id;
  return got.ok() && got->has_value() ? **got : events::Item{};
}

TEST(EventStoreTest, ItemUpsertChangesOnlyTheFieldsTheRecordCarries) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  events::Item full{"v1", Timestamp::FromSeconds(10), {"comedy"}, "c1", R"({"duration":30,"lang":"de"})"};
  ASSERT_TRUE(store->UpsertItems(std::vector{full}).ok());

  events::Item creator_only;
  creator_only.item = "v1";
  creator_only.creator = "c2";
  creator_only.fields = events::kFieldCreator;
  ASSERT_TRUE(store->UpsertItems(std::vector{creator_only}).ok());
  events::Item got = GetItemOf(*store, "v1");
  EXPECT_EQ(got.creator, "c2");
  EXPECT_EQ(got.categories, (std::vector<std::string>{"comedy"}));
  ASSERT_TRUE(got.ts.has_value());
  EXPECT_EQ(got.ts->seconds(), 10);
  EXPECT_EQ(got.attributes, R"({"duration":30,"lang":"de"})");

  // Present and empty is an explicit null: it clears. Attributes merge key by key.
  events::Item clear;
  clear.item = "v1";
  clear.attributes = R"({"lang":null,"size":7})";
  clear.fields = events::kFieldTs | events::kFieldAttributes;
  ASSERT_TRUE(store->UpsertItems(std::vector{clear}).ok());
  got = GetItemOf(*store, "v1");
  EXPECT_FALSE(got.ts.has_value());
  EXPECT_EQ(got.creator, "c2");
  EXPECT_EQ(got.attributes, R"({"duration":30,"size":7})");

  // Nothing carried: nothing changes (an events file fed to items is refused before this).
  events::Item nothing;
  nothing.item = "v1";
  nothing.fields = 0;
  ASSERT_TRUE(store->UpsertItems(std::vector{nothing}).ok());
  EXPECT_EQ(GetItemOf(*store, "v1").attributes, R"({"duration":30,"size":7})");
  EXPECT_EQ(store->Stats().items_with_metadata, 1u);
}

TEST(EventStoreTest, SameItemTwiceInABatchMergesInOrderFieldByField) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  events::Item a;
  a.item = "v1";
  a.creator = "c1";
  a.attributes = R"({"x":1,"y":1})";
  a.fields = events::kFieldCreator | events::kFieldAttributes;
  events::Item b;
  b.item = "v1";
  b.categories = {"drama"};
  b.attributes = R"({"y":2})";
  b.fields = events::kFieldCategories | events::kFieldAttributes;
  std::vector<events::Item> merged;
  ASSERT_TRUE(store->MergeItems(std::vector{a, b}, &merged).ok());
  ASSERT_EQ(merged.size(), 1u);  // one per distinct item, as stored
  EXPECT_EQ(merged[0].item, "v1");
  EXPECT_EQ(merged[0].creator, "c1");
  EXPECT_EQ(merged[0].categories, (std::vector<std::string>{"drama"}));
  EXPECT_EQ(merged[0].attributes, R"({"x":1,"y":2})");
  events::Item got = GetItemOf(*store, "v1");
  EXPECT_EQ(got.creator, "c1");
  EXPECT_EQ(got.categories, (std::vector<std::string>{"drama"}));
  EXPECT_EQ(got.attributes, R"({"x":1,"y":2})");
  EXPECT_EQ(store->Stats().items_with_metadata, 1u);
}

TEST(EventStoreTest, UserUpsertMergesAttributesAndNullClearsThem) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->UpsertUsers(std::vector{events::User{"u1", R"({"age":30,"country":"de"})"}}).ok());
  events::User patch{"u1", R"({"country":"fr","plan":{"tier":"pro"}})", events::kFieldAttributes};
  ASSERT_TRUE(store->UpsertUsers(std::vector{patch}).ok());
  auto user = store->GetUser(*store->FindUser("u1"));
  ASSERT_TRUE(user.ok() && user->has_value());
  EXPECT_EQ((*user)->attributes, R"({"age":30,"country":"fr","plan":{"tier":"pro"}})");
  events::User untouched{"u1", "", 0};
  ASSERT_TRUE(store->UpsertUsers(std::vector{untouched}).ok());
  user = store->GetUser(*store->FindUser("u1"));
  EXPECT_EQ((*user)->attributes, R"({"age":30,"country":"fr","plan":{"tier":"pro"}})");
  events::User cleared{"u1", "", events::kFieldAttributes};
  ASSERT_TRUE(store->UpsertUsers(std::vector{cleared}).ok());
  user = store->GetUser(*store->FindUser("u1"));
  EXPECT_EQ((*user)->attributes, "");
}

TEST(EventStoreTest, ReadOnlyStoreRefusesWrites) {
  testing::TempDir dir;
  { OpenStore(dir.path()); }
  auto store = OpenStore(dir.path(), /*read_only=*/true);
  EXPECT_EQ(store->Append(std::vector{MakeEvent("u", "a", "click", 1)}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(EventStoreTest, SecondWriterGetsAClearError) {
  testing::TempDir dir;
  auto first = OpenStore(dir.path());
  EventStoreOptions opts;
  opts.path = dir.path();
  auto second = EventStore::Open(opts);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("another funnel process"), std::string::npos)
      << second.status();
}

// Batches this large take the SST ingestion path; smaller ones the WriteBatch path.
std::vector<Event> ManyEvents(int n, int first_id, double ts0) {
  std::vector<Event> out;
  for (int i = 0; i < n; ++i)
    out.push_back(MakeEvent("u" + std::to_string(i % 97), "i" + std::to_string(i % 1013), "click",
                            ts0 + (i * 7919 % n) * 0.001, "e" + std::to_string(first_id + i)));
  return out;
}

TEST(EventStoreTest, BulkBatchIsStoredSortedAndDeduplicated) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  auto big = ManyEvents(20000, 0, 1000);
  auto r = store->Append(big);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 20000u);
  // A small batch after the bulk one sees its dedupe keys...
  auto small = store->Append(std::vector{big[5], MakeEvent("u1", "new", "like", 5, "fresh")});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->accepted, 1u);
  EXPECT_EQ(small->duplicates, 1u);
  // ...and a second bulk batch overlapping both sees every earlier key.
  auto overlap = ManyEvents(20000, 10000, 1000);
  auto r2 = store->Append(overlap);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->accepted, 10000u);
  EXPECT_EQ(r2->duplicates, 10000u);

  int n = 0;
  Timestamp last = Timestamp::Min();
  bool ordered = true;
  ASSERT_TRUE(store->Replay(Timestamp::Min(), Timestamp::Max(), [&](const StoredEvent& e) {
    ordered = ordered && last <= e.ts;
    last = e.ts;
    ++n;
    return true;
  }).ok());
  EXPECT_TRUE(ordered);
  EXPECT_EQ(n, 30001);
  EXPECT_EQ(store->Stats().events, 30001u);
}

TEST(EventStoreTest, BulkWritesSurviveReopenWithDictionaries) {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store->Append(ManyEvents(10000, 0, 1)).ok());
  }
  auto store = OpenStore(dir.path());
  EXPECT_EQ(store->NumUsers(), 97u);
  EXPECT_EQ(store->NumItems(), 1013u);
  EXPECT_EQ(store->Stats().events, 10000u);
  auto again = store->Append(ManyEvents(10000, 0, 1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->duplicates, 10000u);
  std::vector<std::string> items;
  ASSERT_TRUE(store->UserHistory(*store->FindUser("u3"), Timestamp::Min(), Timestamp::Max(),
                                 [&](const HistoryEntry& h) {
                                   items.push_back(store->ItemName(h.item));
                                   return true;
                                 }).ok());
  EXPECT_EQ(items.size(), 10000u / 97 + (3 < 10000 % 97 ? 1 : 0));
}

TEST(EventStoreTest, AppendReportsTheIndexesItAssignedToEachStoredEvent) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  // A small batch (row writes) and a bulk one (file ingestion), each repeating events.
  for (int n : {50, 12000}) {
    auto batch = ManyEvents(n, n, 1000);
    batch.push_back(batch[3]);
    batch.push_back(MakeEvent("brand-new-user", "brand-new-item", "share", 1001, Cat("x", n)));
    auto r = store->Append(batch);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->users.size(), r->stored.size());
    ASSERT_EQ(r->items.size(), r->stored.size());
    ASSERT_EQ(r->types.size(), r->stored.size());
    EXPECT_EQ(r->stored.size(), static_cast<size_t>(n) + 1);
    for (size_t k = 0; k < r->stored.size(); ++k) {
      const Event& e = batch[r->stored[k]];
      EXPECT_EQ(r->users[k], store->FindUser(e.user));
      EXPECT_EQ(r->items[k], store->FindItem(e.item));
      EXPECT_EQ(r->types[k], store->FindType(e.type));
    }
  }
}

// A store that was empty when opened skips the dedupe lookup of keys it never wrote; one that
// held events looks every key up. Both must find exactly the same duplicates.
TEST(EventStoreTest, FreshAndReopenedStoresFindTheSameDuplicates) {
  auto first = ManyEvents(20000, 0, 1000);
  auto second = ManyEvents(20000, 15000, 1000);  // 5000 repeats of `first`
  for (int i = 0; i < 300; ++i) second.push_back(second[i * 7]);  // and repeats within itself
  second.push_back(first[0]);
  second.push_back(MakeEvent("u1", "i1", "click", 999));  // no id: deduped on content
  second.push_back(MakeEvent("u1", "i1", "click", 999));
  auto third = std::vector{first[1], second[2], MakeEvent("u1", "i1", "click", 999),
                           MakeEvent("u2", "i2", "like", 5, "late")};

  testing::TempDir fresh_dir, reopened_dir;
  auto fresh = OpenStore(fresh_dir.path());
  {
    auto s = OpenStore(reopened_dir.path());
    ASSERT_TRUE(s->Append(first).ok());
  }
  auto reopened = OpenStore(reopened_dir.path());
  ASSERT_TRUE(fresh->Append(first).ok());
  for (const auto* batch : {&second, &third}) {
    auto a = fresh->Append(*batch);
    auto b = reopened->Append(*batch);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->stored, b->stored);
    EXPECT_EQ(a->duplicates, b->duplicates);
  }
  EXPECT_EQ(fresh->Stats().events, 20000u + 15000u + 1u + 1u);
  EXPECT_EQ(reopened->Stats().events, fresh->Stats().events);
  for (const Event& e : second) {
    auto c = fresh->Contains(e);
    ASSERT_TRUE(c.ok() && *c);
  }
}

}  // namespace
}  // namespace funnel::store
