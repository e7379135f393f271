// Training the retrieval stage on a small generated platform in a real event store: with and
// without tuning, the fitted sources, their weights and the validation rows; bad source lists
// and stores with nothing to train on are refused.
#include "funnel/training/retrieval_trainer.h"

#include <cmath>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/retrieval/source_registry.h"
#include "support/temp_dir.h"
#include "support/test_store.h"

namespace funnel::training {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TestStore;

class RetrievalTrainerTest : public ::testing::Test {
 protected:
  // One generated platform shared by the suite (generating and importing it takes a moment).
  static void SetUpTestSuite() {
    store_ = new TestStore();
    store_->ImportGenerated(/*users=*/150, /*items=*/400, /*days=*/3, /*seed=*/21);
  }
  static void TearDownTestSuite() {
    delete store_;
    store_ = nullptr;
  }
  static const store::EventStore& store() { return store_->store(); }
  // Two and a half days in: the last half day is left out of training.
  static Timestamp Cutoff() {
    return Timestamp::FromSeconds(static_cast<double>(events::kGeneratorEpochSeconds) + 2.5 * TestStore::kDay);
  }
  static RetrievalTrainOptions Options(bool tune) {
    RetrievalTrainOptions o;
    o.tune = tune;
    o.threads = 2;
    // The platform here is small: these tests are about tuning's mechanics, not its power.
    o.min_validation_users = 0;
    return o;
  }
  static uint64_t EventsBefore(Timestamp cutoff) {
    uint64_t n = 0;
    EXPECT_TRUE(store().Replay(Timestamp::Min(), cutoff, [&](const store::StoredEvent&) {
      ++n;
      return true;
    }).ok());
    return n;
  }

  static inline TestStore* store_ = nullptr;
};

std::vector<std::string> Names(const TrainedRetrieval& t) {
  std::vector<std::string> out;
  for (const auto& s : t.slots) out.emplace_back(s.source->name());
  return out;
}

TEST_F(RetrievalTrainerTest, WithoutTuningEverySourceIsFittedWithUnitWeightsAndTheShippedFusion) {
  const RetrievalTrainOptions o = Options(false);
  auto t = TrainRetrieval(store(), EventsConfig{}, Cutoff(), o);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Names(*t), ElementsAre("popular", "trending", "fresh", "covisit", "ials", "ease"));
  for (const auto& s : t->slots) {
    EXPECT_EQ(s.weight, 1.0) << s.source->name();
    EXPECT_EQ(s.quota, o.quotas.at(std::string(s.source->name()))) << s.source->name();
  }
  EXPECT_EQ(t->fusion.normalization, retrieval::FusionOptions::kRank);
  EXPECT_EQ(t->fusion.rank_offset, o.rank_offset);
  EXPECT_TRUE(t->validation.empty());
  EXPECT_EQ(t->validation_users, 0u);
  EXPECT_EQ(t->cutoff, Cutoff());
  EXPECT_EQ(t->max_candidates, o.max_candidates);
  EXPECT_EQ(t->training_events, EventsBefore(Cutoff()));
  EXPECT_GT(t->training_events, 1000u);
  EXPECT_EQ(t->num_users, store().NumUsers());
  EXPECT_EQ(t->num_items, store().NumItems());
}

// Tuning on a handful of users picks settings by noise: below the bound, nothing is tuned and
// the result says why.
TEST_F(RetrievalTrainerTest, TooFewValidationUsersKeepTheShippedDefaultsAndSayWhy) {
  RetrievalTrainOptions o = Options(true);
  auto tuned = TrainRetrieval(store(), EventsConfig{}, Cutoff(), o);
  ASSERT_TRUE(tuned.ok()) << tuned.status();
  ASSERT_GT(tuned->validation_users, 0u);
  EXPECT_TRUE(tuned->untuned.empty());
  o.min_validation_users = tuned->validation_users + 1;
  auto t = TrainRetrieval(store(), EventsConfig{}, Cutoff(), o);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->validation.empty());
  EXPECT_THAT(t->untuned, HasSubstr(Cat("holds ", tuned->validation_users, " users, fewer than min_validation_users = ",
                                        tuned->validation_users + 1)));
  auto untuned = TrainRetrieval(store(), EventsConfig{}, Cutoff(), Options(false));
  ASSERT_TRUE(untuned.ok()) << untuned.status();
  ASSERT_EQ(t->slots.size(), untuned->slots.size());
  for (size_t s = 0; s < t->slots.size(); ++s) {
    EXPECT_EQ(t->slots[s].weight, untuned->slots[s].weight) << "the shipped weights";
    EXPECT_EQ(t->slots[s].quota, untuned->slots[s].quota);
  }
}

TEST_F(RetrievalTrainerTest, TuningFillsAValidationRowPerSourceAndOneForTheFusion) {
  const RetrievalTrainOptions o = Options(true);
  auto t = TrainRetrieval(store(), EventsConfig{}, Cutoff(), o);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_THAT(Names(*t), ElementsAre("popular", "trending", "fresh", "covisit", "ials", "ease"));
  std::vector<std::string> rows;
  for (const ValidationRow& v : t->validation) rows.push_back(v.name);
  EXPECT_THAT(rows, ElementsAre("popular", "trending", "fresh", "covisit", "ials", "ease", "fusion",
                                 "fusion, validation windows", "ranker logistic", "ranker gbdt"));
  EXPECT_GT(t->validation_users, 20u);
  ASSERT_EQ(t->validation.size(), 10u);
  for (const ValidationRow& v : t->validation) {
    SCOPED_TRACE(v.name);
    // The retrieval rows pool every window; the ranking rows pool the windows a ranker could
    // learn from (a window where nobody found a positive teaches and judges nothing).
    if (&v - t->validation.data() < 7) {
      EXPECT_EQ(v.metrics.users, t->validation_users) << "every row scores the same pooled users";
    } else {
      EXPECT_EQ(v.metrics.users, t->validation[7].metrics.users);
      EXPECT_LE(v.metrics.users, t->validation_users);
      EXPECT_GT(v.metrics.users, t->validation_users / 2) << "more than the newest window's users";
    }
    for (double m : {v.metrics.ndcg10.mean, v.metrics.recall20.mean, v.metrics.hit10.mean, v.metrics.coverage10}) {
      EXPECT_GE(m, 0.0);
      EXPECT_LE(m, 1.0);
    }
  }
  EXPECT_THAT(t->validation[1].params, AllOf(HasSubstr("half-life"), HasSubstr(" d")));
  EXPECT_THAT(t->validation[4].params, AllOf(HasSubstr("alpha"), HasSubstr("regularization")));
  EXPECT_THAT(t->validation[5].params, HasSubstr("lambda"));
  EXPECT_THAT(t->validation[6].params, HasSubstr("popular="));
  EXPECT_GT(t->validation[6].metrics.ndcg10.mean, 0.0) << "the fused list finds something on this data";
  bool any_nonzero = false;
  for (const auto& s : t->slots) {
    EXPECT_TRUE(std::isfinite(s.weight)) << s.source->name();
    any_nonzero |= s.weight != 0;
  }
  EXPECT_TRUE(any_nonzero);
  EXPECT_THAT(o.rank_offsets, ::testing::Contains(t->fusion.rank_offset));
  // The tuned weights are the ones the fusion row reports.
  for (const auto& s : t->slots)
    EXPECT_THAT(t->validation[6].params, HasSubstr(Cat(s.source->name(), "=", fmt::format("{:.3g}", s.weight))));
}

TEST_F(RetrievalTrainerTest, TheTrainedMergerRecommendsKUnseenItemsToAKnownUser) {
  auto t = TrainRetrieval(store(), EventsConfig{}, Cutoff(), Options(false));
  ASSERT_TRUE(t.ok()) << t.status();
  retrieval::Merger merger(t->slots, t->max_candidates, t->fusion);
  retrieval::StrengthRule rule(store(), EventsConfig{}, t->data);
  for (uint32_t u : {0u, 7u, 42u}) {
    auto st = retrieval::BuildUserState(store(), rule, UserIdx{u}, Cutoff(), t->data.recent_items);
    ASSERT_TRUE(st.ok()) << st.status();
    ASSERT_FALSE(st->exclude.empty()) << u;
    retrieval::CandidateSet c = merger.Candidates(*st, Cutoff());
    std::vector<retrieval::Candidate> top = merger.Fuse(c, 20);
    ASSERT_EQ(top.size(), 20u) << u;
    for (const auto& x : top) EXPECT_FALSE(st->Excluded(x.item)) << u << " " << x.item;
  }
}

TEST_F(RetrievalTrainerTest, AChosenSubsetTrainsOnlyThoseSourcesInTheGivenOrder) {
  RetrievalTrainOptions o = Options(false);
  o.sources = {"covisit", "popular"};
  auto t = TrainRetrieval(store(), EventsConfig{}, Cutoff(), o);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Names(*t), ElementsAre("covisit", "popular"));
}

TEST_F(RetrievalTrainerTest, UnknownSourceNameIsInvalidArgumentListingTheKnownOnes) {
  RetrievalTrainOptions o = Options(false);
  o.sources = {"popular", "ials2"};
  auto t = TrainRetrieval(store(), EventsConfig{}, Cutoff(), o);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(MessageOf(t.status())),
              AllOf(HasSubstr("'ials2'"), HasSubstr("popular, trending, fresh, covisit, ials, ease")));
  EXPECT_THAT(KnownSources(), ElementsAre("popular", "trending", "fresh", "covisit", "ials", "ease"));

  o.sources.clear();
  t = TrainRetrieval(store(), EventsConfig{}, Cutoff(), o);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
}

// What training can fit, serving must be able to load, and no loader may wait on a source that
// nothing fits: the two registries hold the same names, in the same order.
TEST(SourceFitsTest, EverySourceKindHasAFitAndALoaderUnderTheSameName) {
  EXPECT_EQ(BuiltinSourceFits().Names(), retrieval::BuiltinSources().Names());
  EXPECT_EQ(KnownSources(), BuiltinSourceFits().Names());
}

TEST_F(RetrievalTrainerTest, EveryFittedSourceKindLoadsBackThroughTheSourceRegistryUnchanged) {
  const RetrievalTrainOptions o = Options(false);
  auto ts = retrieval::BuildTrainingSet(store(), EventsConfig{}, Cutoff(), o.data);
  ASSERT_TRUE(ts.ok()) << ts.status();
  retrieval::StrengthRule rule(store(), EventsConfig{}, o.data);
  std::vector<retrieval::UserState> users = {retrieval::UserState{}};  // and a cold user
  for (uint32_t u : {0u, 7u, 42u}) {
    auto state = retrieval::BuildUserState(store(), rule, UserIdx{u}, Cutoff(), o.data.recent_items);
    ASSERT_TRUE(state.ok()) << state.status();
    users.push_back(std::move(*state));
  }
  std::vector<uint32_t> all(ts->num_items);
  for (uint32_t i = 0; i < ts->num_items; ++i) all[i] = i;

  const SourceFits fits = BuiltinSourceFits();
  const retrieval::SourceRegistry sources = retrieval::BuiltinSources();
  for (const std::string& name : fits.Names()) {
    SCOPED_TRACE(name);
    auto fit = fits.Find(name);
    ASSERT_TRUE(fit.ok()) << fit.status();
    auto fitted = (**fit)(*ts, RetrievalChoices{}, o);
    ASSERT_TRUE(fitted.ok()) << fitted.status();
    EXPECT_EQ((*fitted)->name(), name);
    testing::TempDir dir;
    ASSERT_TRUE((*fitted)->Save(dir.path()).ok());
    auto loaded = sources.Load(name, dir.path());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->name(), name);
    EXPECT_EQ((*loaded)->AsCovisit() != nullptr, name == "covisit") << "only co-visitation answers AsCovisit";
    for (const retrieval::UserState& u : users) {
      std::vector<retrieval::Candidate> a, b;
      (*fitted)->Retrieve(u, {.k = 20, .now = Cutoff()}, &a);
      (*loaded)->Retrieve(u, {.k = 20, .now = Cutoff()}, &b);
      ASSERT_EQ(a.size(), b.size());
      for (size_t j = 0; j < a.size(); ++j) {
        EXPECT_EQ(a[j].item, b[j].item);
        EXPECT_EQ(a[j].score, b[j].score);
      }
      std::vector<float> sa(all.size()), sb(all.size());
      (*fitted)->Score(u, all, Cutoff(), sa);
      (*loaded)->Score(u, all, Cutoff(), sb);
      EXPECT_EQ(sa, sb);
    }
  }
}

TEST(RetrievalTrainerEmptyTest, NothingToTrainOnIsAnError) {
  TestStore empty;
  for (bool tune : {false, true}) {
    RetrievalTrainOptions o;
    o.tune = tune;
    o.threads = 1;
    auto t = TrainRetrieval(empty.store(), EventsConfig{}, Timestamp::Max(), o);
    ASSERT_FALSE(t.ok()) << "tune " << tune;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(MessageOf(t.status())), HasSubstr("no events"));
  }
  // Events, but none before the cutoff.
  TestStore late;
  late.Add("u", "i", "click", 10 * TestStore::kDay);
  RetrievalTrainOptions o;
  o.tune = false;
  auto t = TrainRetrieval(late.store(), EventsConfig{}, TestStore::At(0), o);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace funnel::training
