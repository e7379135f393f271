// The offline dataset against the online path: for sampled rows, the features the online store
// serves after streaming every event that precedes the row's own event equal the row's features
// bit for bit (parity, on rows whose event is the first of its timestamp), so no row sees its
// own event; and adding later events changes no earlier row (no leakage from the future). On
// synthetic data and, when present, ml-100k.
#include "funnel/features/dataset_builder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "funnel/events/generator.h"
#include "funnel/events/jsonl_importer.h"
#include "funnel/events/movielens_importer.h"
#include "funnel/features/online_store.h"
#include "support/temp_dir.h"

namespace funnel::features {
namespace {

using testing::TempDir;

std::unique_ptr<store::EventStore> OpenStore(const std::string& path, bool sync = true) {
  auto s = store::EventStore::Open({.path = path, .sync = sync});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// A small synthetic platform, imported into a store at `dir`/events.
std::unique_ptr<store::EventStore> SyntheticStore(const TempDir& dir, uint32_t days = 3) {
  events::GeneratorOptions g;
  g.users = 300;
  g.items = 900;
  g.days = days;
  g.seed = 11;
  g.out_dir = dir / "gen";
  EXPECT_TRUE(events::GeneratePlatform(g).ok());
  auto store = OpenStore(dir / "events");
  for (auto [file, kind] : {std::pair{"items.jsonl", events::RecordKind::kItem},
                            std::pair{"events.jsonl", events::RecordKind::kEvent}}) {
    auto r = events::ImportJsonLines(g.out_dir + "/" + file, kind, *store, ImportConfig{}, {});
    EXPECT_TRUE(r.ok()) << r.status();
  }
  return store;
}

bool SameFloat(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

// Streams `source`'s events, in replay order, into a fresh store fed to an online store, and at
// each of `samples` rows compares the online features with the row's. Returns rows checked.
size_t CheckParity(const store::EventStore& source, const std::vector<DatasetRow>& rows,
                   const std::vector<std::string>& names, const TempDir& dir, size_t samples) {
  auto target = OpenStore(dir / "online-events", /*sync=*/false);
  auto kv = store::KvStore::Create({.backend = "memory"});
  auto online = OnlineFeatures::Open(DefaultFeatureSpecs(), *target, std::move(*kv));
  EXPECT_TRUE(online.ok()) << online.status();
  EXPECT_EQ((*online)->names(), names);
  auto sink = OnlineFeatures::FeedingSink(*target, **online);
  std::vector<events::Item> items;
  EXPECT_TRUE(source.ForEachItem([&](ItemIdx, const events::Item& it) {
    items.push_back(it);
    return true;
  }).ok());
  EXPECT_TRUE(sink->UpsertItems(items).ok());
  std::vector<events::User> users;
  EXPECT_TRUE(source.ForEachUser([&](UserIdx, const events::User& u) {
    users.push_back(u);
    return true;
  }).ok());
  EXPECT_TRUE(sink->UpsertUsers(users).ok());

  // A row's features include the events stamped at its own time that precede it in the fold
  // (ties in arrival order); a read as of that time uses nothing stamped then (online_store.h).
  // The two agree exactly on rows whose event is the first of its time, which are sampled.
  std::set<uint64_t> first_of_its_time;
  std::optional<int64_t> previous_us;
  EXPECT_TRUE(source.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    if (previous_us != e.ts.micros()) first_of_its_time.insert(e.seq);
    previous_us = e.ts.micros();
    return true;
  }).ok());
  // Sampled rows, in the order their events were folded offline.
  std::mt19937_64 rng(5);
  std::vector<size_t> pick;
  for (size_t i = 0; i < rows.size(); ++i)
    if (first_of_its_time.contains(rows[i].seq)) pick.push_back(i);
  std::shuffle(pick.begin(), pick.end(), rng);
  pick.resize(std::min(samples, pick.size()));
  std::sort(pick.begin(), pick.end(), [&](size_t a, size_t b) {
    return std::pair(rows[a].ts, rows[a].seq) < std::pair(rows[b].ts, rows[b].seq);
  });

  size_t next = 0, checked = 0;
  std::vector<events::Event> pending;
  auto check_rows_before = [&](uint64_t seq) {
    // Every sampled row whose event is `seq` (or, at the end, any left) sees the state now.
    while (next < pick.size() && (seq == UINT64_MAX || rows[pick[next]].seq == seq)) {
      if (!pending.empty()) {
        EXPECT_TRUE(sink->Append(pending).ok());
        pending.clear();
      }
      const DatasetRow& r = rows[pick[next++]];
      std::vector<std::string> item = {r.item};
      auto x = (*online)->Compute(r.user, item, Timestamp::FromSeconds(r.ts));
      EXPECT_TRUE(x.ok()) << x.status();
      for (size_t f = 0; f < names.size(); ++f)
        if (!SameFloat(x->values[f], r.features[f])) {
          ADD_FAILURE() << "row seq " << r.seq << " (" << r.kind << " " << r.user << " " << r.item << ") feature "
                        << names[f] << ": online " << x->values[f] << ", offline " << r.features[f];
          break;
        }
      ++checked;
    }
  };
  EXPECT_TRUE(source.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    while (next < pick.size() && rows[pick[next]].seq < e.seq &&
           std::pair(rows[pick[next]].ts, rows[pick[next]].seq) < std::pair(e.ts.seconds(), e.seq))
      ++next;  // (defensive: rows always name a stored event)
    check_rows_before(e.seq);
    events::Event ev;
    ev.user = source.UserName(e.user);
    ev.item = source.ItemName(e.item);
    ev.type = source.TypeName(e.type);
    ev.ts = e.ts;
    ev.value = e.value;
    ev.id = std::string(e.id);
    ev.request_id = std::string(e.request_id);
    ev.context = std::string(e.context);
    pending.push_back(std::move(ev));
    return true;
  }).ok());
  return checked;
}

TEST(DatasetBuilderTest, RowsEqualTheOnlineFeaturesBeforeTheirOwnEventOnSyntheticData) {
  TempDir dir;
  auto store = SyntheticStore(dir);
  DatasetOptions opt;
  auto s = BuildDataset(*store, DefaultFeatureSpecs(), EventsConfig{}, opt, dir / "rows.tsv");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_GT(s->impression_rows, 1000u);
  std::vector<std::string> names;
  auto rows = ReadDataset(dir / "rows.tsv", &names);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), s->rows);
  EXPECT_EQ(CheckParity(*store, *rows, names, dir, 300), 300u) << s->impression_rows << " impression rows, "
      << s->engagement_rows << " engagement rows, " << s->negative_rows << " negatives";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(DatasetBuilderTest, TheTwoThreadBuildWritesTheSameBytesAsTheOneThreadBuild) {
  TempDir dir;
  auto store = SyntheticStore(dir, 5);
  // Organic likes and ratings (no request id) add engagement rows and sampled negatives.
  const Timestamp first = *store->Stats().first_ts, last = *store->Stats().last_ts;
  std::vector<events::Event> organic;
  for (uint32_t k = 0; k < 6000; ++k) {
    events::Event e;
    e.user = store->UserName(UserIdx{k % store->NumUsers()});
    e.item = store->ItemName(ItemIdx{(k * 7919) % store->NumItems()});
    e.type = k % 3 == 0 ? "rating" : "like";
    if (k % 3 == 0) e.value = 1 + k % 5;
    e.ts = Timestamp::FromMicros(first.micros() + (last.micros() - first.micros()) / 6000 * k);
    organic.push_back(std::move(e));
  }
  ASSERT_TRUE(store->Append(organic).ok());
  DatasetOptions one, two;
  one.threads = 1;
  two.threads = 2;
  one.negatives_per_positive = two.negatives_per_positive = 3;
  auto a = BuildDataset(*store, DefaultFeatureSpecs(), EventsConfig{}, one, dir / "one.tsv");
  auto b = BuildDataset(*store, DefaultFeatureSpecs(), EventsConfig{}, two, dir / "two.tsv");
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << " " << b.status();
  EXPECT_GT(a->rows, 6 * 4096u) << "more blocks of rows than the writer holds go through its queue";
  EXPECT_GT(a->engagement_rows, 1000u);
  EXPECT_GT(a->negative_rows, 1000u);
  EXPECT_EQ(a->rows, b->rows);
  const std::string x = ReadFile(dir / "one.tsv"), y = ReadFile(dir / "two.tsv");
  ASSERT_EQ(x.size(), y.size());
  EXPECT_TRUE(x == y) << "the files differ at byte " << std::mismatch(x.begin(), x.end(), y.begin()).first - x.begin();
  EXPECT_TRUE(ReadDataset(dir / "two.tsv", nullptr).ok());
}

TEST(DatasetBuilderTest, FeedbackLabelsTheNewestImpressionOfItsRequestWithinTheHorizon) {
  TempDir dir;
  auto store = OpenStore(dir / "events");
  constexpr double kT0 = 1700000000;
  auto ev = [&](std::string user, std::string item, std::string type, double dt, std::string request,
                std::optional<double> value = std::nullopt) {
    events::Event e;
    e.user = std::move(user);
    e.item = std::move(item);
    e.type = std::move(type);
    e.ts = Timestamp::FromSeconds(kT0 + dt);
    e.request_id = std::move(request);
    e.value = value;
    return e;
  };
  const std::vector<events::Event> evs = {
      ev("u1", "a", "impression", 0, "r1"),
      ev("u1", "a", "impression", 10, "r2"),
      ev("u1", "a", "impression", 15, "r1"),  // shown again in the same request: the newer row answers
      ev("u1", "a", "like", 20, "r1"),
      ev("u1", "a", "watch", 30, "r2", 12.0),
      ev("u1", "a", "watch", 31, "r2", 3.0),
      ev("u1", "b", "skip", 40, "r3"),        // answers no impression: no row
      ev("u2", "b", "impression", 50, "r4"),
      ev("u2", "b", "impression", 55, ""),    // no request id: never answered
      ev("u2", "b", "share", 1900, "r4"),     // after the horizon: an engagement row of its own
  };
  ASSERT_TRUE(store->Append(evs).ok());
  DatasetOptions opt;
  opt.negatives_per_positive = 0;
  for (int threads : {1, 2}) {
    opt.threads = threads;
    auto s = BuildDataset(*store, DefaultFeatureSpecs(), EventsConfig{}, opt, dir / "rows.tsv");
    ASSERT_TRUE(s.ok()) << s.status();
    auto rows = ReadDataset(dir / "rows.tsv", nullptr);
    ASSERT_TRUE(rows.ok()) << rows.status();
    ASSERT_EQ(rows->size(), 6u);
    // label, engaged, liked, shared, skipped, watch_seconds (rating is NaN throughout)
    const std::vector<std::vector<float>> want = {
        {0, 0, 0, 0, 0, 0}, {1, 1, 0, 0, 0, 15}, {1, 1, 1, 0, 0, 0},
        {0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0},  {1, 1, 0, 1, 0, 0}};
    const std::vector<std::string> kinds = {"impression", "impression", "impression",
                                            "impression", "impression", "engagement"};
    for (size_t i = 0; i < rows->size(); ++i) {
      const DatasetRow& r = (*rows)[i];
      EXPECT_EQ(r.kind, kinds[i]) << "row " << i;
      EXPECT_EQ(std::vector<float>(r.labels.begin(), r.labels.begin() + 6), want[i]) << "row " << i << ", threads " << threads;
      EXPECT_TRUE(std::isnan(r.labels[6])) << "row " << i;
    }
  }
}

// Rates over no denominator event are missing (NaN) in the dataset exactly where the online
// store serves them missing: a user whose likes come without impressions, and one with both.
TEST(DatasetBuilderTest, RatesWithNoDenominatorEventsAreMissingOfflineAndOnlineAlike) {
  TempDir dir;
  auto store = OpenStore(dir / "events");
  constexpr double kT0 = 1700000000;
  std::vector<events::Event> evs;
  auto add = [&](std::string user, std::string item, std::string type, double dt, std::string request) {
    events::Event e;
    e.user = std::move(user);
    e.item = std::move(item);
    e.type = std::move(type);
    e.ts = Timestamp::FromSeconds(kT0 + dt);
    e.request_id = std::move(request);
    evs.push_back(std::move(e));
  };
  for (int i = 0; i < 6; ++i) add("liker", i % 2 ? "a" : "b", "like", 100 * i, "");  // organic: no impression
  for (int i = 0; i < 6; ++i) {
    add("viewer", "a", "impression", 100 * i + 7, Cat("r", i));
    if (i % 3 == 0) add("viewer", "a", "like", 100 * i + 9, Cat("r", i));
  }
  ASSERT_TRUE(store->Append(evs).ok());
  DatasetOptions opt;
  opt.negatives_per_positive = 1;
  auto s = BuildDataset(*store, DefaultFeatureSpecs(), EventsConfig{}, opt, dir / "rows.tsv");
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<std::string> names;
  auto rows = ReadDataset(dir / "rows.tsv", &names);
  ASSERT_TRUE(rows.ok()) << rows.status();
  const size_t rate = std::find(names.begin(), names.end(), "user_like_rate_1d") - names.begin();
  ASSERT_LT(rate, names.size());
  size_t missing = 0, present = 0;
  for (const DatasetRow& r : *rows) {
    if (r.user == "liker") {
      EXPECT_TRUE(std::isnan(r.features[rate])) << "row seq " << r.seq << ": " << r.features[rate];
      ++missing;
    } else if (!std::isnan(r.features[rate])) {
      EXPECT_LE(r.features[rate], 1.0f);
      ++present;
    }
  }
  EXPECT_GT(missing, 3u);
  EXPECT_GT(present, 0u);
  EXPECT_EQ(CheckParity(*store, *rows, names, dir, rows->size()), rows->size());
}

TEST(DatasetBuilderTest, LaterEventsChangeNoEarlierRow) {
  TempDir dir;
  auto store = SyntheticStore(dir, 4);
  auto first = store->Stats().first_ts, last = store->Stats().last_ts;
  ASSERT_TRUE(first && last);
  const Timestamp cut = Timestamp::FromMicros(first->micros() + (last->micros() - first->micros()) / 2);
  DatasetOptions all, early;
  early.until = cut;
  ASSERT_TRUE(BuildDataset(*store, DefaultFeatureSpecs(), EventsConfig{}, all, dir / "all.tsv").ok());
  ASSERT_TRUE(BuildDataset(*store, DefaultFeatureSpecs(), EventsConfig{}, early, dir / "early.tsv").ok());
  auto a = ReadDataset(dir / "all.tsv", nullptr), e = ReadDataset(dir / "early.tsv", nullptr);
  ASSERT_TRUE(a.ok() && e.ok());
  ASSERT_GT(e->size(), 1000u);
  ASSERT_GT(a->size(), e->size());
  // Rows come out in creation order, so the early dataset is a prefix of the full one.
  for (size_t i = 0; i < e->size(); ++i) {
    const DatasetRow &x = (*a)[i], &y = (*e)[i];
    ASSERT_EQ(x.seq, y.seq);
    ASSERT_EQ(x.item, y.item);
    for (size_t f = 0; f < x.features.size(); ++f)
      ASSERT_TRUE(SameFloat(x.features[f], y.features[f])) << "row " << i << " feature " << f;
  }
  for (const DatasetRow& r : *a) EXPECT_LE(r.ts, cut.seconds() + 1e9);  // sanity: all parsed
}

TEST(DatasetBuilderTest, ATruncatedOrAlteredFileIsRefused) {
  TempDir dir;
  auto store = SyntheticStore(dir, 1);
  ASSERT_TRUE(BuildDataset(*store, DefaultFeatureSpecs(), EventsConfig{}, {}, dir / "rows.tsv").ok());
  std::string text;
  {
    std::ifstream in(dir / "rows.tsv");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  dir.Write("cut.tsv", text.substr(0, text.size() / 2));
  EXPECT_EQ(ReadDataset(dir / "cut.tsv", nullptr).status().code(), absl::StatusCode::kDataLoss);
  std::string altered = text;
  altered[text.size() / 2] = altered[text.size() / 2] == '1' ? '2' : '1';
  dir.Write("altered.tsv", altered);
  EXPECT_FALSE(ReadDataset(dir / "altered.tsv", nullptr).ok());
  dir.Write("other.tsv", "hello\n");
  EXPECT_EQ(ReadDataset(dir / "other.tsv", nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DatasetBuilderTest, RowsEqualTheOnlineFeaturesOnMovieLens100k) {
  // Reads ../shared/data/ml-100k (MovieLens 100K, GroupLens); skipped when absent.
  const std::string data = FUNNEL_SHARED_DATA_DIR "/ml-100k";
  if (!std::filesystem::exists(data + "/u.data"))
    GTEST_SKIP() << data << " is absent (a clone without ../shared); CI always has it";
  TempDir dir;
  auto store = OpenStore(dir / "events");
  ASSERT_TRUE(events::ImportMovieLens(data, *store, {}).ok());
  DatasetOptions opt;
  opt.negatives_per_positive = 1;
  auto s = BuildDataset(*store, DefaultFeatureSpecs(), EventsConfig{}, opt, dir / "rows.tsv");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->engagement_rows, 100000u);
  std::vector<std::string> names;
  auto rows = ReadDataset(dir / "rows.tsv", &names);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(CheckParity(*store, *rows, names, dir, 400), 400u);
}

}  // namespace
}  // namespace funnel::features
