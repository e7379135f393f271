// The model a process serves. A loaded model version is immutable and shared; publishing a new
// one is one atomic pointer swap, and a request takes its snapshot (Get) when it starts and
// keeps it to the end, so it never sees a mix of two versions, and a version stays alive until
// the last request that holds it finishes (TensorFlow Serving's ServableHandle).
//
//   ModelHandle models(std::move(loaded));
//   std::shared_ptr<const model::RetrievalModel> m = models.Get();   // per request
//   models.Publish(std::move(newer));                                // a reload, off the request path
//
// Thread-safety: Get and Publish are safe to call concurrently from any threads.
#pragma once

#include <atomic>
#include <memory>

#include "funnel/model/model_registry.h"

namespace funnel::serving {

class ModelHandle {
 public:
  using ModelPtr = std::shared_ptr<const model::RetrievalModel>;

  explicit ModelHandle(ModelPtr model = nullptr) : model_(std::move(model)) {}

  // The current model; nullptr when none was published yet.
  ModelPtr Get() const { return model_.load(std::memory_order_acquire); }
  void Publish(ModelPtr model) { model_.store(std::move(model), std::memory_order_release); }

 private:
  std::atomic<ModelPtr> model_;
};

}  // namespace funnel::serving
