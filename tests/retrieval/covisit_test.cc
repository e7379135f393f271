// Co-visitation: pair weights with the window, the gap and the decay worked out by hand and
// against a brute-force twin of the definition; the popularity normalization and pair aging; the
// neighbours kept per item; the recency weighting of the user's seeds; Retrieve agrees with
// Score; folding later events into a trained source equals training on all of them, and new
// items get neighbours; saved files load back identical (old bundles too) and damaged or
// inconsistent ones are refused.
#include "funnel/retrieval/covisit.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/core/blob_file.h"
#include "funnel/retrieval/source_registry.h"
#include "support/temp_dir.h"

namespace funnel::retrieval {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
constexpr int64_t kHourUs = 3600'000'000;
constexpr int64_t kT0 = 1'700'000'000'000'000;

struct Pos {
  uint32_t user;
  uint32_t item;
  double hours;
};

TrainingSet FromPositives(uint32_t num_items, std::vector<Pos> pos) {
  TrainingSet ts;
  ts.num_items = num_items;
  std::stable_sort(pos.begin(), pos.end(), [](const Pos& a, const Pos& b) { return a.hours < b.hours; });
  for (const Pos& p : pos) {
    ts.positives.push_back({kT0 + std::llround(p.hours * kHourUs), p.user, p.item});
    ts.num_users = std::max(ts.num_users, p.user + 1);
  }
  ts.cutoff = Timestamp::FromMicros(kT0 + 1000 * kHourUs);
  return ts;
}

enum : uint32_t { A, B, C, D, E, F, G, H, I, kUnseen, kItems };

// User 0: a, b (1 h later), c (2 h later), d (17 h later: outside the window).
// User 1: a, a again, e: a repeated item is a position but never its own pair.
// User 2: f, g, h, i a minute apart: with max_gap 2, f and i do not pair.
TrainingSet Sample() {
  return FromPositives(kItems, {{0, A, 0}, {0, B, 1}, {0, C, 3}, {0, D, 20}, {1, A, 0}, {1, A, 0.5}, {1, E, 1},
                                {2, F, 0}, {2, G, 1 / 60.0}, {2, H, 2 / 60.0}, {2, I, 3 / 60.0}});
}

const CovisitOptions kOptions = {.window_hours = 10, .decay_hours = 2, .max_gap = 2, .neighbors = 100,
                                 .recency = 0.5, .recent_items = 20, .pair_half_life_days = 0,
                                 .popularity_exponent = 0.5};

std::map<uint32_t, double> NeighborMap(const CovisitSource& s, uint32_t item) {
  std::map<uint32_t, double> out;
  auto ids = s.Neighbors(item);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  for (uint32_t b : ids) out[b] = s.PairScore(item, b);
  return out;
}

void ExpectNear(const std::map<uint32_t, double>& got, const std::map<uint32_t, double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (auto [item, w] : want) {
    ASSERT_TRUE(got.contains(item)) << item;
    EXPECT_NEAR(got.at(item), w, 1e-6 * std::max(1.0, std::abs(w))) << item;
  }
}

TEST(CovisitTest, PairWeightsFollowWindowGapDecayAndSqrtNormalization) {
  auto s = CovisitSource::Build(Sample(), kOptions);
  const double r3 = std::sqrt(3.0);  // n_a = 3 (one positive from user 0, two from user 1)
  const double ab = std::exp2(-0.5) / r3, ac = std::exp2(-1.5) / r3, bc = 0.5;
  const double ae = (std::exp2(-0.25) + std::exp2(-0.5)) / r3;
  const double one = std::exp2(-1 / 120.0), two = std::exp2(-1 / 60.0);  // 1 and 2 minutes apart
  ExpectNear(NeighborMap(*s, A), {{B, ab}, {C, ac}, {E, ae}});
  ExpectNear(NeighborMap(*s, B), {{A, ab}, {C, bc}});
  ExpectNear(NeighborMap(*s, C), {{A, ac}, {B, bc}});
  EXPECT_TRUE(NeighborMap(*s, D).empty()) << "17 h after c: outside the 10 h window";
  ExpectNear(NeighborMap(*s, E), {{A, ae}});
  ExpectNear(NeighborMap(*s, F), {{G, one}, {H, two}});
  ExpectNear(NeighborMap(*s, G), {{F, one}, {H, one}, {I, two}});
  ExpectNear(NeighborMap(*s, I), {{G, two}, {H, one}});
  EXPECT_TRUE(NeighborMap(*s, kUnseen).empty());
  EXPECT_TRUE(s->Neighbors(kItems + 5).empty()) << "an item outside the model";
}

TEST(CovisitTest, PairExactlyAWindowApartCountsAndZeroDecayMeansNoDecay) {
  TrainingSet ts = FromPositives(2, {{0, 0, 0}, {0, 1, 10}, {1, 0, 0}, {1, 1, 10}});
  auto at_window = CovisitSource::Build(ts, {.window_hours = 10, .decay_hours = 0, .pair_half_life_days = 0, .popularity_exponent = 0.5});
  ExpectNear(NeighborMap(*at_window, 0), {{1, 2.0 / 2.0}});  // c = 2 (two users), n_0 = n_1 = 2
  auto decayed = CovisitSource::Build(ts, {.window_hours = 10, .decay_hours = 5, .pair_half_life_days = 0, .popularity_exponent = 0.5});
  ExpectNear(NeighborMap(*decayed, 0), {{1, 2 * 0.25 / 2.0}});
  auto narrow = CovisitSource::Build(ts, {.window_hours = 9.99, .decay_hours = 0, .pair_half_life_days = 0, .popularity_exponent = 0.5});
  EXPECT_TRUE(NeighborMap(*narrow, 0).empty());
}

TEST(CovisitTest, EachItemKeepsItsStrongestNeighboursTiesToTheLowerItem) {
  auto s = CovisitSource::Build(Sample(), {.window_hours = 10, .decay_hours = 2, .max_gap = 2, .neighbors = 1, .pair_half_life_days = 0,
                                               .popularity_exponent = 0.5});
  auto only = [&](uint32_t item) {
    auto ids = s->Neighbors(item);
    return std::vector<uint32_t>(ids.begin(), ids.end());
  };
  EXPECT_THAT(only(A), ElementsAre(E));
  EXPECT_THAT(only(B), ElementsAre(C));
  EXPECT_THAT(only(C), ElementsAre(B));
  EXPECT_THAT(only(F), ElementsAre(G));
  EXPECT_THAT(only(G), ElementsAre(F)) << "f and h tie";
  EXPECT_THAT(only(H), ElementsAre(G)) << "g and i tie";
  EXPECT_TRUE(only(D).empty());
}

// The definition, written plainly: every pair of one user's positives at most max_gap positions
// and window_hours apart, both ways, over sqrt(n_a n_b); the best `neighbors` of each item.
std::vector<std::map<uint32_t, double>> TwinNeighbors(const TrainingSet& ts, const CovisitOptions& o) {
  std::vector<double> n(ts.num_items, 0);
  std::map<uint32_t, std::vector<PositiveEvent>> by_user;
  for (const PositiveEvent& p : ts.positives) {
    n[p.item] += 1;
    by_user[p.user].push_back(p);
  }
  std::vector<std::map<uint32_t, double>> c(ts.num_items);
  for (auto& [user, seq] : by_user)
    for (size_t k = 0; k < seq.size(); ++k)
      for (size_t j = (k > size_t(o.max_gap) ? k - o.max_gap : 0); j < k; ++j) {
        const double dt = static_cast<double>(seq[k].ts_us - seq[j].ts_us);
        if (dt > o.window_hours * 3600e6 || seq[j].item == seq[k].item) continue;
        const double w = std::exp2(-dt / (o.decay_hours * 3600e6));
        c[seq[j].item][seq[k].item] += w;
        c[seq[k].item][seq[j].item] += w;
      }
  std::vector<std::map<uint32_t, double>> out(ts.num_items);
  for (uint32_t a = 0; a < ts.num_items; ++a) {
    std::vector<std::pair<double, uint32_t>> row;
    for (auto [b, w] : c[a]) row.emplace_back(-w / std::sqrt(n[a] * n[b]), b);
    std::sort(row.begin(), row.end());
    for (size_t r = 0; r < row.size() && r < size_t(o.neighbors); ++r) out[a][row[r].second] = -row[r].first;
  }
  return out;
}

TEST(CovisitTest, NeighbourListsMatchTheDefinitionOnRandomSessions) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint32_t> item(0, 39);
  std::exponential_distribution<double> gap(0.5);  // hours between a user's positives
  std::vector<Pos> pos;
  for (uint32_t u = 0; u < 60; ++u) {
    double t = u * 0.1;
    for (int k = 0; k < 25; ++k) pos.push_back({u, item(rng) % (u % 2 ? 40 : 20), t += gap(rng)});
  }
  TrainingSet ts = FromPositives(40, pos);
  const CovisitOptions o = {.window_hours = 6, .decay_hours = 3, .max_gap = 4, .neighbors = 7, .pair_half_life_days = 0,
                             .popularity_exponent = 0.5};
  auto s = CovisitSource::Build(ts, o);
  auto want = TwinNeighbors(ts, o);
  for (uint32_t a = 0; a < 40; ++a) {
    SCOPED_TRACE(a);
    // Ties at the keep boundary could pick either item; random real-valued gaps make none.
    ExpectNear(NeighborMap(*s, a), want[a]);
  }
}

UserState Seeds(std::vector<uint32_t> recent, absl::flat_hash_set<uint32_t> exclude);

TEST(CovisitTest, PairsAgeByTheirHalfLifeAndCandidatesKeepSomePopularity) {
  // Users 0 and 1 pair item 0 with 1 and with 2, sixty days apart; a 60-day pair half-life
  // halves the older pair. n_0 = 2, n_1 = n_2 = 1.
  const double days = 24;
  TrainingSet ts = FromPositives(3, {{0, 0, 0}, {0, 1, 1}, {1, 0, 60 * days}, {1, 2, 60 * days + 1}});
  const CovisitOptions o = {.window_hours = 10, .decay_hours = 0, .pair_half_life_days = 60,
                            .popularity_exponent = 0.2};
  auto s = CovisitSource::Build(ts, o);
  const double aged = std::exp2(-(60 * days) / (60 * days));  // formed 60 days before the newest
  EXPECT_NEAR(s->PairScore(0, 1), aged / (std::sqrt(2.0) * 1.0), 1e-6);
  EXPECT_NEAR(s->PairScore(0, 2), 1 / std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(s->PairScore(1, 0), aged / (1.0 * std::pow(2.0, 0.2)), 1e-6) << "n_b^-β for the candidate";
  EXPECT_NEAR(s->PairScore(2, 0), 1 / std::pow(2.0, 0.2), 1e-6);
  EXPECT_EQ(s->PairScore(1, 2), 0.0f);
}

// Random sessions over `items` items, a user's positives in time order.
std::vector<Pos> RandomSessions(uint64_t seed, uint32_t users, uint32_t items, int per_user) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint32_t> item(0, items - 1);
  std::exponential_distribution<double> gap(0.05);  // hours between a user's positives
  std::vector<Pos> pos;
  for (uint32_t u = 0; u < users; ++u) {
    double t = u * 0.37;
    for (int k = 0; k < per_user; ++k) pos.push_back({u, item(rng), t += gap(rng)});
  }
  return pos;
}

// What `funnel recommend` does with events after a model's cutoff: seed each user's sequence
// with their last max_gap trained positives, then fold the later ones in.
std::unique_ptr<CovisitSource> TrainThenFold(const std::vector<Pos>& pos, double split_hours, uint32_t items,
                                             const CovisitOptions& o) {
  std::vector<Pos> before, after;
  for (const Pos& p : pos) (p.hours < split_hours ? before : after).push_back(p);
  auto trained = CovisitSource::Build(FromPositives(items, before), o);
  CovisitCounts later(o, trained->reference_us());
  TrainingSet b = FromPositives(items, before), a = FromPositives(items, after);
  for (const PositiveEvent& p : b.positives) later.Seed(p.user, p.item, p.ts_us);
  for (const PositiveEvent& p : a.positives) later.Add(p.user, p.item, p.ts_us);
  return trained->WithUpdates(later);
}

TEST(CovisitTest, FoldingLaterEventsIntoATrainedSourceEqualsTrainingOnAllOfThem) {
  const std::vector<Pos> pos = RandomSessions(11, 50, 30, 40);
  CovisitOptions o = {.window_hours = 30, .decay_hours = 8, .max_gap = 5, .neighbors = 1000,
                      .pair_half_life_days = 0, .popularity_exponent = 0.3};
  for (double half_life : {0.0, 10.0}) {
    SCOPED_TRACE(half_life);
    o.pair_half_life_days = half_life;
    auto all = CovisitSource::Build(FromPositives(30, pos), o);
    auto folded = TrainThenFold(pos, 400, 30, o);
    // With aging, the two differ by one common factor: the folded one's ages are measured from
    // its (earlier) training reference, so every weight is larger by 2^(Δreference / half-life).
    const double common = half_life > 0 ? std::exp2(static_cast<double>(folded->reference_us() - all->reference_us()) /
                                                     (half_life * 86400e6))
                                         : 1.0;
    EXPECT_GT(all->neighbor_ids().size(), 300u);
    ASSERT_EQ(folded->offsets(), all->offsets()) << "the same pairs";
    EXPECT_EQ(folded->neighbor_ids(), all->neighbor_ids());
    EXPECT_EQ(folded->item_counts(), all->item_counts());
    for (uint32_t a = 0; a < 30; ++a)
      for (uint32_t b : all->Neighbors(a))
        ASSERT_NEAR(folded->PairScore(a, b) * common, all->PairScore(a, b), 1e-5 * all->PairScore(a, b)) << a << " " << b;
  }
}

TEST(CovisitTest, ItemsNewerThanTheTrainedSourceGetNeighboursFromLaterEvents) {
  auto trained = CovisitSource::Build(Sample(), kOptions);
  ASSERT_EQ(trained->num_items(), uint32_t{kItems});
  // After training, user 7 likes b and then item 12, an upload the model never saw.
  CovisitCounts later(kOptions, trained->reference_us());
  const int64_t t = kT0 + 100 * kHourUs;
  later.Add(7, B, t);
  later.Add(7, 12, t + kHourUs);
  auto updated = trained->WithUpdates(later);
  EXPECT_EQ(updated->num_items(), 13u);
  EXPECT_GT(updated->PairScore(B, 12), 0.0f);
  EXPECT_GT(updated->PairScore(12, B), 0.0f);
  std::vector<Candidate> top;
  updated->Retrieve(Seeds({B}, {B}), {.k = 10, .now = Timestamp{}}, &top);
  EXPECT_TRUE(std::any_of(top.begin(), top.end(), [](const Candidate& c) { return c.item == 12; }));
  trained->Retrieve(Seeds({B}, {B}), {.k = 10, .now = Timestamp{}}, &top);
  EXPECT_TRUE(std::none_of(top.begin(), top.end(), [](const Candidate& c) { return c.item == 12; }));
  // n_b grew by one: b's old pairs now score lower, as if trained on the later events too.
  EXPECT_LT(updated->PairScore(B, C), trained->PairScore(B, C));
}

UserState Seeds(std::vector<uint32_t> recent, absl::flat_hash_set<uint32_t> exclude) {
  UserState u;
  u.recent = std::move(recent);
  u.exclude = std::move(exclude);
  return u;
}

TEST(CovisitTest, UserScoreWeighsTheRthMostRecentSeedByRecencyToTheR) {
  auto s = CovisitSource::Build(Sample(), kOptions);
  const double r3 = std::sqrt(3.0);
  const double ab = std::exp2(-0.5) / r3, ac = std::exp2(-1.5) / r3, bc = 0.5;
  const double ae = (std::exp2(-0.25) + std::exp2(-0.5)) / r3;
  // Newest first: c, then a (weight 0.5). The user touched a and c: they are excluded.
  UserState u = Seeds({C, A}, {A, C});
  std::vector<Candidate> top;
  s->Retrieve(u, {.k = 10, .now = Timestamp{}}, &top);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].item, B);
  EXPECT_NEAR(top[0].score, bc + 0.5 * ab, 1e-6);
  EXPECT_EQ(top[1].item, E);
  EXPECT_NEAR(top[1].score, 0.5 * ae, 1e-6);

  std::vector<uint32_t> items = {B, E, A, C, D, kUnseen, 1000};
  std::vector<float> sc(items.size());
  s->Score(u, items, Timestamp{}, sc);
  EXPECT_FLOAT_EQ(sc[0], top[0].score) << "Score agrees with Retrieve";
  EXPECT_FLOAT_EQ(sc[1], top[1].score);
  EXPECT_NEAR(sc[2], ac, 1e-6) << "excluded items are still scored";
  EXPECT_NEAR(sc[3], 0.5 * ac, 1e-6);
  EXPECT_EQ(sc[4], 0.0f);
  EXPECT_EQ(sc[5], 0.0f);
  EXPECT_EQ(sc[6], 0.0f);

  s->Retrieve(u, {.k = 1, .now = Timestamp{}}, &top);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].item, B);

  // Only the newest seed when recent_items is 1.
  CovisitOptions one = kOptions;
  one.recent_items = 1;
  auto s1 = CovisitSource::Build(Sample(), one);
  s1->Retrieve(u, {.k = 10, .now = Timestamp{}}, &top);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].item, B);
  EXPECT_NEAR(top[0].score, bc, 1e-6);

  s->Retrieve(UserState{}, {.k = 10, .now = Timestamp{}}, &top);
  EXPECT_TRUE(top.empty()) << "no recent items, no candidates";
}

TEST(CovisitTest, SaveThenLoadGivesIdenticalRetrieveAndScore) {
  testing::TempDir dir;
  CovisitOptions o = kOptions;
  o.recent_items = 2;
  o.recency = 0.7;
  auto s = CovisitSource::Build(Sample(), o);
  ASSERT_TRUE(s->Save(dir.path()).ok());
  auto loaded = CovisitSource::Load("covisit", dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->options().recent_items, 2);
  EXPECT_EQ((*loaded)->options().recency, 0.7);
  EXPECT_EQ((*loaded)->offsets(), s->offsets());
  EXPECT_EQ((*loaded)->neighbor_ids(), s->neighbor_ids());
  EXPECT_EQ((*loaded)->neighbor_counts(), s->neighbor_counts());
  EXPECT_EQ((*loaded)->item_counts(), s->item_counts());
  EXPECT_EQ((*loaded)->reference_us(), s->reference_us());
  for (const UserState& u : {Seeds({C, A}, {A}), Seeds({G, A, B}, {}), Seeds({E}, {A})}) {
    std::vector<Candidate> a, b;
    s->Retrieve(u, {.k = 5, .now = Timestamp{}}, &a);
    (*loaded)->Retrieve(u, {.k = 5, .now = Timestamp{}}, &b);
    ASSERT_EQ(a.size(), b.size());
    for (size_t j = 0; j < a.size(); ++j) {
      EXPECT_EQ(a[j].item, b[j].item);
      EXPECT_EQ(a[j].score, b[j].score);
    }
    std::vector<uint32_t> items = {A, B, C, D, E, F, G, H, I, kUnseen};
    std::vector<float> sa(items.size()), sb(items.size());
    s->Score(u, items, Timestamp{}, sa);
    (*loaded)->Score(u, items, Timestamp{}, sb);
    EXPECT_EQ(sa, sb);
  }
}

TEST(CovisitTest, DamagedOrInconsistentFileIsRefusedNamingIt) {
  testing::TempDir dir;
  ASSERT_TRUE(CovisitSource::Build(Sample(), kOptions)->Save(dir.path()).ok());
  const std::string path = dir / "covisit.blob";
  std::ifstream in(path, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  in.close();
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x04;
  dir.Write("covisit.blob", flipped);
  auto loaded = BuiltinSources().Load("covisit", dir.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(MessageOf(loaded.status())), HasSubstr(path));

  // Well-formed blobs whose lists contradict each other.
  auto write = [&](std::vector<uint64_t> offsets, std::vector<uint32_t> ids, std::vector<float> scores) {
    BlobWriter w("covisit");
    w.Add("offsets", offsets);
    w.Add("neighbors", ids);
    w.Add("scores", scores);
    w.Add("options", std::vector<double>{1, 1, 1, 1, 1, 1});
    ASSERT_TRUE(w.Write(path).ok());
  };
  write({0, 1, 3}, {1, 0}, {0.5f, 0.5f});  // offsets end past the lists
  EXPECT_FALSE(CovisitSource::Load("covisit", dir.path()).ok());
  write({0, 1, 2}, {1, 0}, {0.5f});  // a score missing
  EXPECT_FALSE(CovisitSource::Load("covisit", dir.path()).ok());
  write({0, 1, 2}, {1, 7}, {0.5f, 0.5f});  // neighbour 7 of a two-item model
  auto out_of_range = CovisitSource::Load("covisit", dir.path());
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_THAT(std::string(MessageOf(out_of_range.status())), HasSubstr("out of range"));
  write({0, 1, 2}, {1, 0}, {0.5f, 0.25f});
  auto legacy = CovisitSource::Load("covisit", dir.path());
  ASSERT_TRUE(legacy.ok()) << "a consistent bundle of before item counts loads: " << legacy.status();
  EXPECT_FLOAT_EQ((*legacy)->PairScore(0, 1), 0.5f) << "its stored scores score as they did";
  EXPECT_FLOAT_EQ((*legacy)->PairScore(1, 0), 0.25f);
  EXPECT_FALSE((*legacy)->updatable());
  CovisitCounts later((*legacy)->options(), 0);
  later.Add(0, 0, 1);
  later.Add(0, 1, 2);
  EXPECT_EQ((*legacy)->WithUpdates(later)->neighbor_counts(), (*legacy)->neighbor_counts()) << "and takes no updates";
}

}  // namespace
}  // namespace funnel::retrieval
