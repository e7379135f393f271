// The [retrieval] table: what `funnel train` reads from it, and what `funnel tune` writes into it
// must read back to the same options.
#include "funnel/training/retrieval_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/training/retrieval_tuner.h"

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

}  // namespace
}  // namespace funnel::training
