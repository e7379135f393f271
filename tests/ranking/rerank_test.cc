// Each re-rank step's rule on hand-made lists: filter drops unavailable items, caps moves a
// creator's (or category's) surplus below the window in order, mmr trades relevance for
// novelty as λ says; steps run in the configured order, an unknown step names the known ones,
// and ILD counts the share of dissimilar pairs.
#include "funnel/ranking/rerank.h"

#include <map>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace funnel::ranking {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Items 0..7: categories drama (0-3), comedy (4-5), none (6-7); creators c1 for 0, 1, 2 and 4.
ItemFacts Facts() {
  ItemFacts f(8);
  const char* category[] = {"drama", "drama", "drama", "drama", "comedy", "comedy", "", ""};
  const char* creator[] = {"c1", "c1", "c1", "", "c1", "", "", ""};
  for (uint32_t i = 0; i < 8; ++i) f.Set(i, category[i], creator[i], /*unavailable=*/i == 3);
  return f;
}

std::vector<retrieval::Candidate> List() {
  std::vector<retrieval::Candidate> l;
  for (uint32_t i = 0; i < 8; ++i) l.push_back({i, 10.0f - static_cast<float>(i)});
  return l;
}

std::vector<uint32_t> Items(const std::vector<retrieval::Candidate>& l) {
  std::vector<uint32_t> out;
  for (const auto& c : l) out.push_back(c.item);
  return out;
}

void ExpectOrderedByScore(const std::vector<retrieval::Candidate>& l) {
  for (size_t i = 1; i < l.size(); ++i) EXPECT_LE(l[i].score, l[i - 1].score) << "at " << i;
}

Reranker Make(RerankOptions o) {
  StatusOr<Reranker> r = Reranker::Create(o);
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

TEST(RerankTest, FilterDropsOnlyUnavailableItems) {
  std::vector<retrieval::Candidate> l = List();
  Make({.steps = {"filter"}}).Apply(Facts(), {.k = 8}, &l);
  EXPECT_THAT(Items(l), ElementsAre(0u, 1u, 2u, 4u, 5u, 6u, 7u));
}

TEST(RerankTest, CapsMoveACreatorsSurplusBelowTheWindowInOrder) {
  std::vector<retrieval::Candidate> l = List();
  Make({.steps = {"caps"}, .cap_window = 4, .max_per_creator = 2}).Apply(Facts(), {.k = 8}, &l);
  // c1 has 0, 1 in the window; 2 and 4 wait; 3, 5 fill it; then the rest in order.
  EXPECT_THAT(Items(l), ElementsAre(0u, 1u, 3u, 5u, 2u, 4u, 6u, 7u));
  ExpectOrderedByScore(l);
  l = List();
  Make({.steps = {"caps"}, .cap_window = 4, .max_per_creator = 0, .max_per_category = 1}).Apply(Facts(), {.k = 8}, &l);
  EXPECT_THAT(Items(l), ElementsAre(0u, 4u, 6u, 7u, 1u, 2u, 3u, 5u)) << "items without a category are never capped";
}

TEST(RerankTest, MmrTradesRelevanceForNoveltyAsLambdaSays) {
  std::vector<retrieval::Candidate> l = List();
  Make({.steps = {"mmr"}, .mmr_lambda = 1.0}).Apply(Facts(), {.k = 4}, &l);
  EXPECT_THAT(Items(l), ElementsAre(0u, 1u, 2u, 3u)) << "λ = 1: relevance only";
  l = List();
  Make({.steps = {"mmr"}, .mmr_lambda = 0.5}).Apply(Facts(), {.k = 4}, &l);
  // After 0 (drama, c1), everything similar to it pays 0.5: 3 (drama) and 4 (c1) do, 5 (comedy,
  // no creator) is the best novel one; then 6 (no category), then 7.
  EXPECT_THAT(Items(l), ElementsAre(0u, 5u, 6u, 7u));
  ExpectOrderedByScore(l);
}

TEST(RerankTest, StepsRunInTheConfiguredOrderAndKeepTheTopK) {
  std::vector<retrieval::Candidate> l = List();
  Make({.steps = {"filter", "caps"}, .cap_window = 3, .max_per_creator = 1}).Apply(Facts(), {.k = 5}, &l);
  EXPECT_THAT(Items(l), ElementsAre(0u, 5u, 6u, 1u, 2u));
}

TEST(RerankTest, AnUnknownStepNamesTheKnownOnes) {
  StatusOr<Reranker> r = Reranker::Create({.steps = {"filter", "dedupe"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(MessageOf(r.status()), HasSubstr("unknown re-rank step 'dedupe'; known: filter, mmr, caps, explore"));
}

// Forty candidates; items 0..19 well shown (100 impressions), 20..39 new (under 5), of which
// 30 has liked every one of its 4 impressions.
ItemFacts ExploreFacts() {
  ItemFacts f(40);
  for (uint32_t i = 0; i < 40; ++i) f.SetCounts(i, i < 20 ? 100 : 4, i == 30 ? 4 : 0);
  return f;
}

std::vector<retrieval::Candidate> Long() {
  std::vector<retrieval::Candidate> l;
  for (uint32_t i = 0; i < 40; ++i) l.push_back({i, 100.0f - static_cast<float>(i)});
  return l;
}

TEST(RerankTest, ExploreGivesItsShareOfSlotsToLittleShownItemsRepeatablyForASeed) {
  const Reranker r = Make({.steps = {"explore"}, .explore_share = 0.2, .explore_max_impressions = 5});
  std::vector<retrieval::Candidate> a = Long(), b = Long(), c = Long();
  r.Apply(ExploreFacts(), {.k = 10, .seed = 42}, &a);
  r.Apply(ExploreFacts(), {.k = 10, .seed = 42}, &b);
  ASSERT_EQ(a.size(), 10u);
  EXPECT_EQ(Items(a), Items(b)) << "the same seed, the same choices";
  size_t explored = 0;
  for (size_t i = 0; i < a.size(); ++i) explored += a[i].item >= 20;
  EXPECT_EQ(explored, 2u) << "20% of 10 slots";
  EXPECT_GE(a[4].item, 20u) << "spaced: slots 4 and 9";
  EXPECT_GE(a[9].item, 20u);
  const std::vector<uint32_t> items = Items(a);
  EXPECT_THAT(std::vector<uint32_t>(items.begin(), items.begin() + 4), ElementsAre(0u, 1u, 2u, 3u));
  ExpectOrderedByScore(a);
  // Over many seeds, the item whose few impressions were all liked is drawn most often.
  std::map<uint32_t, int> drawn;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::vector<retrieval::Candidate> l = Long();
    r.Apply(ExploreFacts(), {.k = 10, .seed = seed}, &l);
    for (const auto& x : l)
      if (x.item >= 20) ++drawn[x.item];
  }
  int most = 0;
  uint32_t best = 0;
  for (const auto& [item, n] : drawn)
    if (n > most) std::tie(most, best) = std::tie(n, item);
  EXPECT_EQ(best, 30u);
  EXPECT_GT(drawn.size(), 5u) << "the others are explored too";
  r.Apply(ExploreFacts(), {.k = 10, .seed = 43}, &c);
  EXPECT_EQ(c.size(), 10u);
}

TEST(RerankTest, IntraListDiversityIsTheShareOfDissimilarPairs) {
  const ItemFacts f = Facts();
  const std::vector<uint32_t> same = {0, 1, 2}, mixed = {0, 5, 6}, pair = {1, 4};
  EXPECT_DOUBLE_EQ(IntraListDiversity(f, same), 0.0);
  EXPECT_DOUBLE_EQ(IntraListDiversity(f, mixed), 1.0);
  EXPECT_DOUBLE_EQ(IntraListDiversity(f, pair), 0.0) << "same creator";
  const std::vector<uint32_t> one = {3};
  EXPECT_DOUBLE_EQ(IntraListDiversity(f, one), 0.0);
}

}  // namespace
}  // namespace funnel::ranking
