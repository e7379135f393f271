// The [retrieval] table: what `funnel train` reads from it, and what `funnel tune` writes into it
// must read back to the same options.
#include "funnel/training/retrieval_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/config_round_trip.h"

namespace funnel::training {
namespace {

StatusOr<RetrievalTrainOptions> Parse(std::string_view text) {
  FUNNEL_ASSIGN_OR_RETURN(Config cfg, ParseConfig(text, "user.toml"));
  return RetrievalTrainOptionsFromConfig(cfg);
}

// A user's own values for keys tune does not search must survive training with the tuned file.
TEST(RetrievalOptionsTest, TunedTableKeepsTheUsersUntunedSettings) {
  StatusOr<RetrievalTrainOptions> user = Parse(R"([retrieval]
fusion = "logistic"
fusion_normalization = "score"
ann_m = 8
ann_ef_construction = 100
ann_ef_search = 50
ann_exact_below = 1000
ann_norm_shards = 4
ials_iterations = 7
ease_max_items = 500
threads = 3
validation_fraction = 0.123456789
time_budget_seconds = 12.3456789
)");
  ASSERT_TRUE(user.ok()) << user.status();
  StatusOr<RetrievalTrainOptions> again = Parse(RetrievalOptionsToml(*user));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->fusion, "logistic");
  EXPECT_EQ(again->fusion_normalization, "score");
  EXPECT_EQ(again->ann.m, 8);
  EXPECT_EQ(again->ann.ef_construction, 100);
  EXPECT_EQ(again->ann.ef_search, 50);
  EXPECT_EQ(again->ann.exact_below, 1000u);
  EXPECT_EQ(again->ann.norm_shards, 4);
  EXPECT_EQ(again->ials.iterations, 7);
  EXPECT_EQ(again->ease.max_items, 500u);
  EXPECT_EQ(again->threads, 3);
  EXPECT_EQ(again->validation_fraction, 0.123456789);
  EXPECT_EQ(again->time_budget_seconds, 12.3456789);
}

TEST(RetrievalOptionsTest, WriterWritesEveryKeyTheParserReads) {
  testing::ExpectWritesEveryKey(RetrievalOptionsToml({}), RetrievalOptionKeys());
}

TEST(RetrievalOptionsTest, EveryKeySurvivesParseWriteParse) {
  testing::ExpectEveryKeyRoundTrips(
      RetrievalOptionsToml({}), RetrievalOptionKeys(),
      [](const std::string& text) -> StatusOr<std::string> {
        FUNNEL_ASSIGN_OR_RETURN(RetrievalTrainOptions o, ParseRetrievalOptions(text, "round-trip.toml"));
        return RetrievalOptionsToml(o);
      },
      {{"retrieval.fusion", "logistic"}, {"retrieval.fusion_normalization", "score"}});
}

TEST(RetrievalOptionsTest, ShippedFunnelTomlDocumentsTheDefaults) {
  StatusOr<Config> cfg = LoadConfig(FUNNEL_SOURCE_DIR "/funnel.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  StatusOr<RetrievalTrainOptions> shipped = RetrievalTrainOptionsFromConfig(*cfg);
  ASSERT_TRUE(shipped.ok()) << shipped.status();
  EXPECT_EQ(RetrievalOptionsToml(*shipped), RetrievalOptionsToml({}));
}

TEST(RetrievalOptionsTest, NoTextOrNoTableGivesTheDefaults) {
  StatusOr<RetrievalTrainOptions> none = RetrievalTrainOptionsFromConfig(Config{});
  StatusOr<RetrievalTrainOptions> other = Parse("[store]\ncommit_batch = 5\n");
  ASSERT_TRUE(none.ok() && other.ok());
  EXPECT_EQ(RetrievalOptionsToml(*none), RetrievalOptionsToml({}));
  EXPECT_EQ(RetrievalOptionsToml(*other), RetrievalOptionsToml({}));
}

// Each bad value is refused with the file, the line, the key, the value and what would do (the
// message starts with `message`).
struct BadValue {
  std::string text;
  std::string message;
};

void PrintTo(const BadValue& b, std::ostream* os) { *os << b.text; }

class RetrievalOptionsBadValueTest : public ::testing::TestWithParam<BadValue> {};

TEST_P(RetrievalOptionsBadValueTest, IsRefusedNamingFileLineKeyValueAndChoices) {
  StatusOr<RetrievalTrainOptions> o = Parse(GetParam().text);
  ASSERT_FALSE(o.ok()) << GetParam().text;
  EXPECT_THAT(std::string(MessageOf(o.status())), ::testing::StartsWith(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Messages, RetrievalOptionsBadValueTest,
    ::testing::Values(
        BadValue{"[retrieval]\ntune = true\nmax_candidates = -5\n",
                 "user.toml:3: key 'retrieval.max_candidates': expected a non-negative integer, got -5"},
        BadValue{"[retrieval]\nmax_candidates = \"lots\"\n",
                 "user.toml:2: key 'retrieval.max_candidates': expected a non-negative integer, got \"lots\""},
        BadValue{"[retrieval]\nsources = [\"itemknn\"]\n",
                 "user.toml:2: key 'retrieval.sources': unknown source 'itemknn'; known: popular, trending, fresh, "
                 "covisit, ials, ease"},
        BadValue{"[retrieval]\nsources = []\n",
                 "user.toml:2: key 'retrieval.sources': expected a non-empty array of source names (known: popular, "
                 "trending, fresh, covisit, ials, ease), got []"},
        BadValue{"[retrieval]\nmax_candidate = 5\n",
                 "user.toml:2: unknown key 'retrieval.max_candidate'; known here: ann_ef_construction, ann_ef_search"},
        BadValue{"retrieval = 5\n", "user.toml:1: key 'retrieval': expected a table, got 5"},
        BadValue{"[retrieval]\nfusion = \"greedy\"\n",
                 "user.toml:2: key 'retrieval.fusion': unknown fusion 'greedy'; known: search, logistic"},
        BadValue{"[retrieval]\nfusion_normalization = \"z\"\n",
                 "user.toml:2: key 'retrieval.fusion_normalization': unknown normalization 'z'; known: rank, score"},
        BadValue{"[retrieval]\nials_factors = 0\n",
                 "user.toml:2: key 'retrieval.ials_factors': expected an integer in 1..1024, got 0"},
        BadValue{"[retrieval]\nvalidation_fraction = 1\n",
                 "user.toml:2: key 'retrieval.validation_fraction': expected a number in (0, 1), got 1"},
        BadValue{"[retrieval]\nease_lambdas = []\n",
                 "user.toml:2: key 'retrieval.ease_lambdas': expected a non-empty array of numbers, got []"},
        BadValue{"[retrieval.covisit]\npopularity_exponent = 2\n",
                 "user.toml:2: key 'retrieval.covisit.popularity_exponent': expected a number in [0, 1], got 2"},
        BadValue{"[retrieval.covisit]\npair_half_life_days = -1\n",
                 "user.toml:2: key 'retrieval.covisit.pair_half_life_days': expected a number >= 0, got -1"},
        BadValue{"[retrieval.quotas]\nitemknn = 5\n",
                 "user.toml:2: unknown key 'retrieval.quotas.itemknn'; known here: covisit, ease, fresh, ials, "
                 "popular, trending"},
        BadValue{"[retrieval]\nfresh = 3\n", "user.toml:2: key 'retrieval.fresh': expected a table, got 3"}));

}  // namespace
}  // namespace funnel::training
