#include "funnel/core/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/config_round_trip.h"

namespace funnel {
namespace {

using ::testing::HasSubstr;

TEST(ConfigTest, EmptyTextGivesDefaults) {
  StatusOr<Config> cfg = ParseConfig("", "t.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->store.commit_batch, Config{}.store.commit_batch);
  EXPECT_DOUBLE_EQ(cfg->events.WeightOf("like"), 4.0);
  EXPECT_DOUBLE_EQ(cfg->events.WeightOf("some_custom_type"), cfg->events.default_weight);
}

TEST(ConfigTest, ReadsValuesAndWeights) {
  StatusOr<Config> cfg = ParseConfig(R"(
log_level = "warn"
[store]
commit_batch = 500
[events]
positive_types = ["like"]
[events.weights]
like = 2.5
bookmark = 3
)", "t.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->log_level, "warn");
  EXPECT_EQ(cfg->store.commit_batch, 500);
  EXPECT_DOUBLE_EQ(cfg->events.WeightOf("like"), 2.5);
  EXPECT_DOUBLE_EQ(cfg->events.WeightOf("bookmark"), 3.0);
  EXPECT_TRUE(cfg->events.IsPositiveType("like"));
  EXPECT_FALSE(cfg->events.IsPositiveType("click"));
}

TEST(ConfigTest, UnknownKeyIsAnErrorNamingIt) {
  StatusOr<Config> cfg = ParseConfig("[store]\ncommit_bach = 5\n", "t.toml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("t.toml:2"));
  EXPECT_THAT(cfg.status().message(), HasSubstr("unknown key 'store.commit_bach'"));
  EXPECT_THAT(cfg.status().message(), HasSubstr("commit_batch"));
}

TEST(ConfigTest, AnImpressionListedAsAPositiveTypeIsAnError) {
  StatusOr<Config> cfg = ParseConfig("[events]\npositive_types = [\"like\", \"impression\"]\n", "t.toml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("'impression' is an exposure"));
}

TEST(ConfigTest, UnknownSectionIsAnError) {
  StatusOr<Config> cfg = ParseConfig("[retrievl]\nx = 1\n", "t.toml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("unknown key 'retrievl'"));
}

TEST(ConfigTest, WrongTypeIsAnError) {
  StatusOr<Config> cfg = ParseConfig("[store]\ncommit_batch = \"many\"\n", "t.toml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(MessageOf(cfg.status()), "t.toml:2: key 'store.commit_batch': expected an integer >= 1, got \"many\"");
}

TEST(ConfigTest, ImpossibleValueIsAnError) {
  EXPECT_FALSE(ParseConfig("[store]\ncommit_batch = 0\n", "t.toml").ok());
  EXPECT_FALSE(ParseConfig("log_level = \"loud\"\n", "t.toml").ok());
}

TEST(ConfigTest, SyntaxErrorNamesLine) {
  StatusOr<Config> cfg = ParseConfig("[store]\ncommit_batch = = 3\n", "t.toml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("t.toml:2"));
}

TEST(ConfigTest, ShippedFunnelTomlParses) {
  StatusOr<Config> cfg = LoadConfig(FUNNEL_SOURCE_DIR "/funnel.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  // The shipped file documents the defaults: it must not change them.
  Config defaults;
  EXPECT_EQ(cfg->store.commit_batch, defaults.store.commit_batch);
  EXPECT_EQ(cfg->events.weights, defaults.events.weights);
  EXPECT_EQ(cfg->events.positive_types, defaults.events.positive_types);
  EXPECT_EQ(cfg->import.max_line_bytes, defaults.import.max_line_bytes);
}

TEST(ConfigTest, ImpossibleValueNamesLineValueAndChoices) {
  StatusOr<Config> level = ParseConfig("\nlog_level = \"loud\"\n", "t.toml");
  ASSERT_FALSE(level.ok());
  EXPECT_EQ(MessageOf(level.status()),
            "t.toml:2: key 'log_level': unknown level 'loud'; known: trace, debug, info, warn, error, off");
  StatusOr<Config> backend = ParseConfig("[online]\nbackend = \"etcd\"\n", "t.toml");
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(MessageOf(backend.status()),
            "t.toml:2: key 'online.backend': unknown backend 'etcd'; known: rocksdb, memory, redis");
  StatusOr<Config> batch = ParseConfig("[store]\ncommit_batch = 0\n", "t.toml");
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(MessageOf(batch.status()), "t.toml:2: key 'store.commit_batch': expected an integer >= 1, got 0");
}

TEST(ConfigTest, ConfigTomlWritesEveryKeyTheParserReads) {
  testing::ExpectWritesEveryKey(ConfigToml(Config{}), ConfigKeys());
}

TEST(ConfigTest, EveryKeySurvivesParseWriteParse) {
  testing::ExpectEveryKeyRoundTrips(
      ConfigToml(Config{}), ConfigKeys(),
      [](const std::string& text) -> StatusOr<std::string> {
        FUNNEL_ASSIGN_OR_RETURN(Config cfg, ParseConfig(text, "round-trip.toml"));
        return ConfigToml(cfg);
      },
      {{"log_level", "warn"}, {"online.backend", "memory"}});
}

TEST(ConfigTest, ShippedFunnelTomlDocumentsTheDefaults) {
  StatusOr<Config> cfg = LoadConfig(FUNNEL_SOURCE_DIR "/funnel.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(ConfigToml(*cfg), ConfigToml(Config{}));
}

}  // namespace
}  // namespace funnel
