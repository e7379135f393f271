// A small co-visitation model for the tests of what happens after a model's cutoff
// (model_catch_up_test, live_covisit_test): before day 1, six users like a then b and four like
// c then d; popular + covisit are trained on it (no tuning) and registered under `data_dir`.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "funnel/retrieval/covisit.h"
#include "funnel/model/model_registry.h"
#include "funnel/training/retrieval_trainer.h"
#include "support/builtin_sources.h"
#include "support/test_store.h"

namespace funnel::testing {

// Adds the events before day 1 to `store`, trains and registers; nullptr (with a test failure)
// when any step fails.
inline std::shared_ptr<const model::RetrievalModel> TrainSmallCovisitModel(TestStore& store,
                                                                              const std::string& data_dir) {
  for (int u = 0; u < 6; ++u) {
    store.Add("u" + std::to_string(u), "a", "like", 100.0 * u);
    store.Add("u" + std::to_string(u), "b", "like", 100.0 * u + 60);
  }
  for (int u = 6; u < 10; ++u) {
    store.Add("u" + std::to_string(u), "c", "like", 100.0 * u);
    store.Add("u" + std::to_string(u), "d", "like", 100.0 * u + 60);
  }
  training::RetrievalTrainOptions o;
  o.sources = {"popular", "covisit"};
  o.tune = false;
  auto trained = training::TrainRetrieval(store.store(), EventsConfig{}, TestStore::At(TestStore::kDay), o);
  EXPECT_TRUE(trained.ok()) << trained.status();
  if (!trained.ok()) return nullptr;
  auto registry = model::ModelRegistry::Open(data_dir, BuiltinSourceRegistry());
  EXPECT_TRUE(registry.ok()) << registry.status();
  if (!registry.ok()) return nullptr;
  auto version = registry->Register(*trained, store.store());
  EXPECT_TRUE(version.ok()) << version.status();
  auto model = registry->LoadCurrent();
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

// The model's co-visitation source, found as the serving code finds it (Source::AsCovisit).
// A model without one is a broken fixture: the test aborts rather than read a null source.
inline const retrieval::CovisitSource& CovisitOf(const model::RetrievalModel& m) {
  for (const auto& slot : m.merger().slots())
    if (const retrieval::CovisitSource* covisit = slot.source->AsCovisit()) return *covisit;
  ADD_FAILURE() << "no covisit source";
  std::abort();
}

}  // namespace funnel::testing
