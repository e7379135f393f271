// Offline/online parity of the ranking stage: a model trained with a ranker over retrieval's and
// the feature store's features, registered and loaded back, answers requests through the
// request pipeline with exactly the items and scores the offline path (the trainer's own merger
// and ranker, the feature store replayed to the request time, ranking::RankCandidates, the
// re-rank steps; what `funnel eval` runs) computes for the same users and time. A pipeline
// given other feature definitions refuses to rank rather than feed the ranker wrong columns.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/features/feature_spec.h"
#include "funnel/model/model_registry.h"
#include "funnel/ranking/store_features.h"
#include "funnel/serving/request_pipeline.h"
#include "funnel/training/retrieval_trainer.h"
#include "support/builtin_sources.h"
#include "support/test_store.h"

namespace funnel::serving {
namespace {

using testing::TestStore;

TEST(RankedPipelineTest, OnlineListsAndScoresEqualTheOfflinePathsBitForBit) {
  TestStore store;
  store.ImportGenerated(/*users=*/150, /*items=*/300, /*days=*/3, /*seed=*/4);
  training::RetrievalTrainOptions o;
  o.threads = 2;
  o.min_validation_users = 0;
  o.ranking.rankers = {"gbdt"};
  o.ranking.trees = 30;
  o.ranking.min_improvement = -1;  // serve the ranker whatever validation says: parity is the point
  o.store_features = features::DefaultFeatureSpecs();
  StatusOr<training::TrainedRetrieval> t = training::TrainRetrieval(store.store(), EventsConfig{}, Timestamp::Max(), o);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_NE(t->ranker, nullptr) << t->ranking_verdict;

  StatusOr<model::ModelRegistry> registry = model::ModelRegistry::Open(store.dir().path(), testing::BuiltinSourceRegistry());
  ASSERT_TRUE(registry.ok());
  ASSERT_TRUE(registry->Register(*t, store.store()).ok());
  StatusOr<std::shared_ptr<const model::RetrievalModel>> loaded = registry->LoadCurrent();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_NE((*loaded)->ranker(), nullptr) << "the ranker is part of the bundle";
  EXPECT_EQ(ranking::StoreFeaturesOf(*(*loaded)->ranker()).size(), features::DefaultFeatureSpecs().size() - 1)
      << "every numeric shipped feature (all but the last_n list) is a ranker column";
  ModelHandle handle(*loaded);
  RequestPipeline online(store.store(), handle, EventsConfig{}, o.rerank, o.store_features);

  retrieval::Merger merger(t->slots, t->max_candidates, t->fusion);
  StatusOr<ranking::Reranker> rerank = ranking::Reranker::Create(o.rerank);
  ASSERT_TRUE(rerank.ok());
  StatusOr<ranking::ItemFacts> facts = ranking::ItemFacts::FromStore(store.store(), t->num_items);
  ASSERT_TRUE(facts.ok());
  retrieval::StrengthRule rule(store.store(), EventsConfig{}, t->data);
  const Timestamp at = t->cutoff;
  // Offline: the feature store replayed to the request time, as training and eval do.
  StatusOr<std::unique_ptr<ranking::FoldAtTime>> fold = ranking::FoldAtTime::Create(o.store_features, &store.store());
  ASSERT_TRUE(fold.ok());
  ASSERT_TRUE((*fold)->AdvanceTo(at).ok());
  size_t compared = 0, reordered = 0;
  const uint32_t users = store.store().NumUsers();
  ASSERT_GE(users, 50u);
  for (uint32_t u = 0; u < users; u += 5) {
    const std::string user = store.store().UserName(UserIdx{u});
    SCOPED_TRACE(user);
    StatusOr<Recommendation> r = online.Recommend({.user = user, .k = 10, .at = at});
    ASSERT_TRUE(r.ok()) << r.status();
    std::optional<UserIdx> idx = store.store().FindUser(user);
    ASSERT_TRUE(idx.has_value());
    StatusOr<retrieval::UserState> state = retrieval::BuildUserState(store.store(), rule, *idx, at, t->data.recent_items);
    ASSERT_TRUE(state.ok());
    const retrieval::CandidateSet c = merger.Candidates(*state, at);
    ranking::CandidateRows rows;
    const ranking::FoldFeatures features((*fold)->fold(), state->user, at);
    StatusOr<std::vector<retrieval::Candidate>> offline =
        ranking::RankCandidates(c, *state, merger, t->ranker.get(), std::max<size_t>(10, o.rerank.pool), &rows, &features);
    ASSERT_TRUE(offline.ok());
    rerank->Apply(*facts, {.k = 10, .seed = ranking::RequestSeed(o.rerank.seed, user, at)}, &*offline);
    ASSERT_EQ(r->items.size(), offline->size());
    for (size_t k = 0; k < offline->size(); ++k) {
      EXPECT_EQ(r->items[k].item, store.store().ItemName(ItemIdx{(*offline)[k].item}));
      EXPECT_EQ(r->items[k].score, (*offline)[k].score) << "bit for bit";
    }
    const std::vector<retrieval::Candidate> fused = merger.Fuse(c, 10);
    reordered += !fused.empty() && fused.front().item != offline->front().item;
    ++compared;
  }
  EXPECT_EQ(compared, (users + 4) / 5);
  EXPECT_GT(reordered, 0u) << "the ranker changes some lists, so the comparison is not of the fusion alone";

  std::vector<features::FeatureSpec> fewer = o.store_features;
  fewer.pop_back();
  RequestPipeline other(store.store(), handle, EventsConfig{}, o.rerank, fewer);
  StatusOr<Recommendation> refused = other.Recommend({.user = store.store().UserName(UserIdx{0}), .k = 10, .at = at});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(MessageOf(refused.status()), ::testing::HasSubstr("the feature definitions changed since training"));
}

}  // namespace
}  // namespace funnel::serving
