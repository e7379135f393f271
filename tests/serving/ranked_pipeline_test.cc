// Offline/online parity of the ranking stage: a model trained with a ranker, registered and
// loaded back, answers requests through the request pipeline with exactly the items and scores
// the offline path (the trainer's own merger and ranker, ranking::RankCandidates, the re-rank
// steps; what `funnel eval` runs) computes for the same users and time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/model/model_registry.h"
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
  StatusOr<training::TrainedRetrieval> t = training::TrainRetrieval(store.store(), EventsConfig{}, Timestamp::Max(), o);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_NE(t->ranker, nullptr) << t->ranking_verdict;

  StatusOr<model::ModelRegistry> registry = model::ModelRegistry::Open(store.dir().path(), testing::BuiltinSourceRegistry());
  ASSERT_TRUE(registry.ok());
  ASSERT_TRUE(registry->Register(*t, store.store()).ok());
  StatusOr<std::shared_ptr<const model::RetrievalModel>> loaded = registry->LoadCurrent();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_NE((*loaded)->ranker(), nullptr) << "the ranker is part of the bundle";
  ModelHandle handle(*loaded);
  RequestPipeline online(store.store(), handle, EventsConfig{}, o.rerank);

  retrieval::Merger merger(t->slots, t->max_candidates, t->fusion);
  StatusOr<ranking::Reranker> rerank = ranking::Reranker::Create(o.rerank);
  ASSERT_TRUE(rerank.ok());
  StatusOr<ranking::ItemFacts> facts = ranking::ItemFacts::FromStore(store.store(), t->num_items);
  ASSERT_TRUE(facts.ok());
  retrieval::StrengthRule rule(store.store(), EventsConfig{}, t->data);
  const Timestamp at = t->cutoff;
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
    StatusOr<std::vector<retrieval::Candidate>> offline =
        ranking::RankCandidates(c, *state, merger, t->ranker.get(), std::max<size_t>(10, o.rerank.pool), &rows);
    ASSERT_TRUE(offline.ok());
    rerank->Apply(*facts, 10, &*offline);
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
}

}  // namespace
}  // namespace funnel::serving
