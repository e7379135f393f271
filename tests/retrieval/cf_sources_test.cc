// The learned sources (iALS with fold-in, EASE) on a tiny training set with an obvious
// structure: two groups of users, each engaging only with its own group of items. A user's
// candidates are the rest of their group; a user without usable history gets none; new
// strengths move the candidates at once; saved sources load back identical.
#include "funnel/retrieval/cf_sources.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/retrieval/source_registry.h"
#include "support/temp_dir.h"

namespace funnel::retrieval {
namespace {

using ::testing::HasSubstr;

// Items 0..5 are group A, 6..11 group B; items 12 and 13 exist in the store but were never
// engaged with before the cutoff (outside the catalog). Users 0..7 are in A, 8..15 in B; user u
// likes 3 of their group's 6 items: offsets u, u + 1 and u + 3 (mod 6).
constexpr uint32_t kGroupItems = 6, kUsersPerGroup = 8, kItems = 14, kUsers = 16;

uint32_t GroupOf(uint32_t item) { return item < kGroupItems ? 0 : item < 2 * kGroupItems ? 1 : 2; }

std::vector<uint32_t> Liked(uint32_t user) {
  const uint32_t base = user < kUsersPerGroup ? 0 : kGroupItems;
  std::vector<uint32_t> out = {base + user % 6, base + (user + 1) % 6, base + (user + 3) % 6};
  std::sort(out.begin(), out.end());
  return out;
}

TrainingSet Groups() {
  TrainingSet ts;
  ts.num_users = kUsers;
  ts.num_items = kItems;
  std::vector<Triplet> t;
  for (uint32_t u = 0; u < kUsers; ++u)
    for (uint32_t i : Liked(u)) t.push_back({u, i, 1.0f});
  ts.user_items = CsrMatrix::FromTriplets(kUsers, kItems, std::move(t));
  for (uint32_t i = 0; i < 2 * kGroupItems; ++i) ts.catalog.push_back(i);
  ts.item_seen.assign(kItems, 0);
  for (uint32_t i : ts.catalog) ts.item_seen[i] = 1;
  return ts;
}

// The user's request-time state: their likes, excluded.
UserState StateOf(uint32_t user, std::vector<uint32_t> items, std::vector<float> strengths) {
  UserState s;
  s.user = user;
  s.items = std::move(items);
  s.strengths = std::move(strengths);
  for (uint32_t i : s.items) s.exclude.insert(i);
  return s;
}

UserState Known(uint32_t user) {
  std::vector<uint32_t> liked = Liked(user);
  return StateOf(user, liked, std::vector<float>(liked.size(), 1.0f));
}

std::vector<Candidate> Top(const Source& s, const UserState& u, size_t k) {
  std::vector<Candidate> out;
  s.Retrieve(u, {.k = k, .now = Timestamp{}}, &out);
  return out;
}

std::set<uint32_t> Items(const std::vector<Candidate>& c) {
  std::set<uint32_t> out;
  for (const Candidate& x : c) out.insert(x.item);
  return out;
}

// The group's items the user did not like.
std::set<uint32_t> Rest(uint32_t user) {
  const uint32_t base = user < kUsersPerGroup ? 0 : kGroupItems;
  std::set<uint32_t> out;
  for (uint32_t i = base; i < base + kGroupItems; ++i) out.insert(i);
  for (uint32_t i : Liked(user)) out.erase(i);
  return out;
}

std::unique_ptr<Source> BuildIals() {
  IalsOptions o;
  o.factors = 2;  // one per group: with more, 48 likes are simply memorized and the groups blur
  o.iterations = 20;
  o.regularization = 0.1;
  o.alpha = 10;
  o.exact_solve = true;
  o.threads = 1;
  auto s = IalsSource::Build(Groups(), o, AnnOptions{});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<Source> BuildEase() {
  auto s = EaseSource::Build(Groups(), {.lambda = 1, .threads = 1});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

class CfSourceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    source_ = GetParam() == "ials" ? BuildIals() : BuildEase();
    ASSERT_NE(source_, nullptr);
    ASSERT_EQ(source_->name(), GetParam());
  }
  std::unique_ptr<Source> source_;
};

TEST_P(CfSourceTest, AUsersBestCandidatesAreTheRestOfTheirGroup) {
  for (uint32_t u = 0; u < kUsers; ++u) {
    std::vector<Candidate> top = Top(*source_, Known(u), 3);
    EXPECT_EQ(Items(top), Rest(u)) << "user " << u;
    for (size_t j = 1; j < top.size(); ++j) EXPECT_GE(top[j - 1].score, top[j].score);
    // Asked for more, they still come first, and nothing the user liked ever comes back.
    std::vector<Candidate> more = Top(*source_, Known(u), 20);
    ASSERT_GE(more.size(), 3u);
    EXPECT_EQ(Items({more.begin(), more.begin() + 3}), Rest(u)) << "user " << u;
    for (const Candidate& c : more) EXPECT_FALSE(Known(u).Excluded(c.item)) << c.item;
    EXPECT_LE(more.size(), size_t{kItems} - 3);
  }
}

TEST_P(CfSourceTest, AUserWithoutUsableHistoryGetsNoCandidatesAndZeroScores) {
  std::vector<uint32_t> items = {0, 5, 6, 12};
  std::vector<float> scores(items.size(), -1.0f);
  for (const UserState& u : {UserState{}, StateOf(UserState::kUnknownUser, {12, 13}, {1, 1})}) {
    EXPECT_TRUE(Top(*source_, u, 10).empty()) << "items: " << u.items.size();
    source_->Score(u, items, Timestamp{}, scores);
    EXPECT_THAT(scores, ::testing::Each(0.0f));
  }
}

TEST_P(CfSourceTest, NewStrengthsMoveTheCandidatesWithoutRetraining) {
  // A user the model never saw likes two A items: A candidates.
  UserState u = StateOf(UserState::kUnknownUser, {0, 1}, {1, 1});
  std::vector<Candidate> before = Top(*source_, u, 3);
  ASSERT_EQ(before.size(), 3u);
  for (const Candidate& c : before) EXPECT_EQ(GroupOf(c.item), 0u) << c.item;
  // Then likes four B items: the best candidates are now the other two B items.
  u = StateOf(UserState::kUnknownUser, {0, 1, 6, 7, 8, 9}, {1, 1, 1, 1, 1, 1});
  std::vector<Candidate> after = Top(*source_, u, 2);
  EXPECT_EQ(Items(after), (std::set<uint32_t>{10, 11}));
}

TEST_P(CfSourceTest, ScoreAgreesWithRetrieve) {
  for (uint32_t u : {0u, 5u, 9u}) {
    std::vector<Candidate> top = Top(*source_, Known(u), 8);
    std::vector<uint32_t> items;
    for (const Candidate& c : top) items.push_back(c.item);
    std::vector<float> s(items.size());
    source_->Score(Known(u), items, Timestamp{}, s);
    for (size_t j = 0; j < items.size(); ++j) EXPECT_NEAR(s[j], top[j].score, 1e-5) << "user " << u << " item " << items[j];
  }
}

TEST_P(CfSourceTest, SaveThenLoadGivesIdenticalRetrieveAndScore) {
  testing::TempDir dir;
  ASSERT_TRUE(source_->Save(dir.path()).ok());
  auto loaded = BuiltinSources().Load(GetParam(), dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<uint32_t> all(kItems);
  for (uint32_t i = 0; i < kItems; ++i) all[i] = i;
  for (const UserState& u : {Known(0), Known(11), StateOf(UserState::kUnknownUser, {2, 9}, {3, -1}), UserState{}}) {
    std::vector<Candidate> a = Top(*source_, u, 10), b = Top(**loaded, u, 10);
    ASSERT_EQ(a.size(), b.size());
    for (size_t j = 0; j < a.size(); ++j) {
      EXPECT_EQ(a[j].item, b[j].item);
      EXPECT_EQ(a[j].score, b[j].score);
    }
    std::vector<float> sa(all.size()), sb(all.size());
    source_->Score(u, all, Timestamp{}, sa);
    (*loaded)->Score(u, all, Timestamp{}, sb);
    EXPECT_EQ(sa, sb);
  }
}

TEST_P(CfSourceTest, DamagedFileIsRefusedNamingIt) {
  testing::TempDir dir;
  ASSERT_TRUE(source_->Save(dir.path()).ok());
  const std::string path = dir / (GetParam() + ".blob");
  std::ifstream in(path, std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  in.close();
  bytes[bytes.size() / 2] ^= 0x20;
  dir.Write(GetParam() + ".blob", bytes);
  auto loaded = BuiltinSources().Load(GetParam(), dir.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(MessageOf(loaded.status())), HasSubstr(path));
}

INSTANTIATE_TEST_SUITE_P(Sources, CfSourceTest, ::testing::Values("ials", "ease"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(IalsSourceTest, MissingIndexFileIsRefusedNamingIt) {
  testing::TempDir dir;
  auto s = BuildIals();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Save(dir.path()).ok());
  std::filesystem::remove(dir / "ials.index");
  auto loaded = IalsSource::Load(dir.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(MessageOf(loaded.status())), HasSubstr("ials.index"));
}

TEST(EaseSourceTest, CatalogAboveMaxItemsIsRefusedWithFailedPrecondition) {
  auto s = EaseSource::Build(Groups(), {.lambda = 1, .max_items = 11});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(MessageOf(s.status())), ::testing::AllOf(HasSubstr("12"), HasSubstr("11")));
  EXPECT_TRUE(EaseSource::Build(Groups(), {.lambda = 1, .max_items = 12}).ok()) << "at the limit is fine";
}

TEST(EaseSourceTest, AUserWhoOnlyDislikedGetsNoCandidates) {
  auto s = BuildEase();
  ASSERT_NE(s, nullptr);
  // Binarized EASE reads a dislike as 0: there is nothing to recommend from.
  EXPECT_TRUE(Top(*s, StateOf(UserState::kUnknownUser, {0, 7}, {-4, -1}), 5).empty());
}

}  // namespace
}  // namespace funnel::retrieval
