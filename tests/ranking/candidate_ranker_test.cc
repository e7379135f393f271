// Rankers over candidate rows: created by kind (an unknown one names the known), saved and
// loaded back to the same scores (a damaged file refused), and RankCandidates reordering exactly
// the top `depth` of the fused order while the rest keeps it.
#include "funnel/ranking/candidate_ranker.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/ranking/xgboost_trainer.h"
#include "funnel/retrieval/popularity.h"
#include "support/temp_dir.h"

namespace funnel::ranking {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr size_t kCols = 11;  // two sources: 3 each, then 5 global
constexpr size_t kBScore = 3;

// Rows whose (soft) label grows with b's standardized score: a ranker trained on them orders
// by b, also among low scores.
struct Data {
  std::vector<float> x, y;
};
Data PreferB(size_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> z;
  Data d;
  for (size_t i = 0; i < n; ++i) {
    for (size_t f = 0; f < kCols; ++f) d.x.push_back(z(rng));
    d.y.push_back(1.0f / (1.0f + std::exp(-3.0f * d.x[i * kCols + kBScore])));
  }
  return d;
}

std::vector<std::string> Names() {
  const std::vector<std::string> sources = {"a", "b"};
  return CandidateFeatureNames(sources);
}

std::shared_ptr<const CandidateRanker> Logistic(size_t depth) {
  Data d = PreferB(2000);
  const std::vector<ColumnKind> kinds(kCols, ColumnKind::kNumeric);
  StatusOr<LogisticRegression> lr = LogisticRegression::Train({{d.x, d.y.size(), kCols}, kinds, d.y, {}}, {});
  EXPECT_TRUE(lr.ok()) << lr.status();
  StatusOr<std::shared_ptr<const CandidateRanker>> r = CandidateRanker::Create("logistic", lr->Save(), Names(), depth);
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

std::shared_ptr<const CandidateRanker> Trees(size_t depth) {
  Data d = PreferB(2000);
  XgboostTrainOptions o;
  o.params = {{"objective", "binary:logistic"}, {"max_depth", "3"}};
  o.num_boost_round = 20;
  StatusOr<XgboostBooster> b = XgboostBooster::Train({{d.x, d.y.size(), kCols}, d.y, {}, {}}, nullptr, o);
  EXPECT_TRUE(b.ok()) << b.status();
  StatusOr<std::string> json = b->SaveJson();
  StatusOr<std::shared_ptr<const CandidateRanker>> r = CandidateRanker::Create("gbdt", *json, Names(), depth);
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

std::shared_ptr<const retrieval::Source> Fixed(std::string name) {
  return retrieval::PopularitySource::FromScores(std::move(name), std::vector<float>(20, 0));
}

// Four candidates; fusion by a alone orders 10, 11, 12, 13; b prefers 11 over 10, 13 over 12.
retrieval::CandidateSet Set() {
  retrieval::CandidateSet c;
  c.items = {10, 11, 12, 13};
  c.sources = 2;
  c.scores = {4, 0, 3, 3, 2, 1, 1, 2};
  c.found_by = {1, 1, 1, 1};
  return c;
}

const retrieval::Merger& ByA() {
  static const retrieval::Merger m({{Fixed("a"), 10, 1.0}, {Fixed("b"), 10, 0.0}}, 1000,
                                   {.normalization = retrieval::FusionOptions::kScore});
  return m;
}

std::vector<uint32_t> Items(const std::vector<retrieval::Candidate>& top) {
  std::vector<uint32_t> out;
  for (const auto& c : top) out.push_back(c.item);
  return out;
}

TEST(CandidateRankerTest, AnUnknownKindNamesTheKnownOnes) {
  StatusOr<std::shared_ptr<const CandidateRanker>> r = CandidateRanker::Create("lambdarank", "", Names(), 10);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(MessageOf(r.status()), HasSubstr("unknown ranker 'lambdarank'; known: logistic, gbdt, lambdamart"));
}

TEST(CandidateRankerTest, ReordersOnlyTheTopDepthOfTheFusedOrder) {
  for (const auto& make : {Logistic, Trees}) {
    CandidateRows rows;
    StatusOr<std::vector<retrieval::Candidate>> none = RankCandidates(Set(), {}, ByA(), nullptr, 10, &rows);
    ASSERT_TRUE(none.ok());
    EXPECT_THAT(Items(*none), ElementsAre(10u, 11u, 12u, 13u)) << "no ranker: the fused order";
    std::shared_ptr<const CandidateRanker> two = make(2);
    StatusOr<std::vector<retrieval::Candidate>> top = RankCandidates(Set(), {}, ByA(), two.get(), 10, &rows);
    ASSERT_TRUE(top.ok()) << top.status();
    EXPECT_THAT(Items(*top), ElementsAre(11u, 10u, 12u, 13u)) << two->kind() << ": 12 and 13 are below depth 2";
    for (size_t i = 1; i < top->size(); ++i) EXPECT_GT((*top)[i - 1].score, (*top)[i].score) << "scores order the list";
    std::shared_ptr<const CandidateRanker> all = make(4);
    top = RankCandidates(Set(), {}, ByA(), all.get(), 3, &rows);
    ASSERT_TRUE(top.ok());
    EXPECT_THAT(Items(*top), ElementsAre(11u, 13u, 12u)) << all->kind() << ": by b, k = 3";
  }
}

TEST(CandidateRankerTest, SavedAndLoadedScoresAlikeAndADamagedFileIsRefused) {
  testing::TempDir dir;
  for (const auto& make : {Logistic, Trees}) {
    std::shared_ptr<const CandidateRanker> r = make(50);
    const std::string path = dir.path() + "/" + r->kind() + ".blob";
    ASSERT_TRUE(r->Save(path).ok());
    StatusOr<std::shared_ptr<const CandidateRanker>> back = CandidateRanker::Load(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ((*back)->kind(), r->kind());
    EXPECT_EQ((*back)->depth(), 50u);
    EXPECT_EQ((*back)->features(), Names());
    Data d = PreferB(64);
    std::vector<float> a(64), b(64);
    ASSERT_TRUE(r->Score({d.x, 64, kCols}, a).ok());
    ASSERT_TRUE((*back)->Score({d.x, 64, kCols}, b).ok());
    EXPECT_EQ(a, b);
    // One flipped byte in the middle: the checksum catches it.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(path) / 2));
    f.put('\x7f');
    f.close();
    EXPECT_FALSE(CandidateRanker::Load(path).ok());
  }
}

TEST(CandidateRankerTest, RowsOfTheWrongWidthAreRefused) {
  std::shared_ptr<const CandidateRanker> r = Logistic(10);
  std::vector<float> x(5), out(1);
  EXPECT_FALSE(r->Score({x, 1, 5}, out).ok());
}

}  // namespace
}  // namespace funnel::ranking
