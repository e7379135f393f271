// The model registry: every `funnel train` writes a new model version under <data>/models and
// points CURRENT at it. A version is a directory holding a manifest (what was trained, when, on
// what, with which choices) and one file per source; docs/formats/model-bundle.md has the layout.
// A version is written to a temporary directory and renamed into place, then CURRENT is
// replaced atomically, so a reader sees the old model or the new one, never a mix.
//
//   auto sources = std::make_shared<const retrieval::SourceRegistry>(retrieval::BuiltinSources());
//   FUNNEL_ASSIGN_OR_RETURN(ModelRegistry reg, ModelRegistry::Open(data_dir, sources));
//   FUNNEL_ASSIGN_OR_RETURN(std::string v, reg.Register(trained, store));
//   FUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<const RetrievalModel> m, reg.LoadCurrent());
//
// Thread-safety: Register calls must not run concurrently (one trainer per data dir); loading is
// safe from any thread, also while a version is being registered.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/eval/metrics.h"
#include "funnel/ranking/candidate_ranker.h"
#include "funnel/retrieval/merger.h"
#include "funnel/retrieval/source_registry.h"
#include "funnel/retrieval/training_set.h"
#include "funnel/store/event_store.h"

namespace funnel::model {

// How one source (or the fusion) did on the validation split.
struct ValidationRow {
  std::string name;
  std::string params;  // the chosen parameters, human-readable
  eval::MetricsSummary metrics;
};

// What a trainer hands the registry: every fitted source and the choices requests must repeat.
struct BundleContents {
  Timestamp cutoff;
  std::vector<retrieval::SourceSlot> slots;  // fitted on everything before the cutoff, weights tuned
  size_t max_candidates = 1000;
  retrieval::FusionOptions fusion;
  retrieval::TrainingSetOptions data;  // request-time states must weigh events the same way
  uint32_t num_users = 0, num_items = 0;
  uint64_t training_events = 0;
  std::vector<ValidationRow> validation;  // empty when not tuned
  size_t validation_users = 0;
  double seconds = 0;
  // The ranker that reorders the fused candidates (trained on validation candidates,
  // training/ranker_trainer.h); null when the fusion serves.
  std::shared_ptr<const ranking::CandidateRanker> ranker;
  std::string ranking_verdict;  // which won on validation and by how much (or why none ran)
};

struct ModelManifest {
  std::string version;     // "v000001"
  Timestamp cutoff;        // trained on events before this
  uint64_t training_events = 0;
  uint32_t num_users = 0, num_items = 0;
  size_t max_candidates = 1000;
  retrieval::FusionOptions fusion;
  retrieval::TrainingSetOptions data;  // how request-time states must weigh events
  struct SourceEntry {
    std::string name;
    size_t quota = 0;
    double weight = 0;
  };
  std::vector<SourceEntry> sources;
  std::vector<ValidationRow> validation;
  size_t validation_users = 0;
  double train_seconds = 0;
  // The ranker's kind and depth ("" when the fusion serves; the file is ranker.blob).
  std::string ranker;
  size_t ranker_depth = 0;
  std::string ranking_verdict;
};

// A loaded model version: immutable, shared by the requests that use it.
class RetrievalModel {
 public:
  const ModelManifest& manifest() const { return manifest_; }
  const retrieval::Merger& merger() const { return *merger_; }
  // The ranker over the merger's candidates; null when the fusion's order is served.
  const ranking::CandidateRanker* ranker() const { return ranker_.get(); }
  // Item ids by the model's dense index, and back (so a process without the event store can
  // name what it recommends).
  const std::string& ItemName(uint32_t item) const { return items_.Name(item); }
  std::optional<uint32_t> FindItem(std::string_view id) const { return items_.Find(id); }
  uint32_t num_items() const { return static_cast<uint32_t>(items_.size()); }
  // A copy with `replaced` (one of this model's sources, found by identity) swapped for `by`,
  // same quota and weight; an identical copy when `replaced` is not one of them.
  std::shared_ptr<const RetrievalModel> WithSource(const retrieval::Source& replaced,
                                                   std::shared_ptr<const retrieval::Source> by) const;

 private:
  friend class ModelRegistry;
  ModelManifest manifest_;
  std::unique_ptr<retrieval::Merger> merger_;
  std::shared_ptr<const ranking::CandidateRanker> ranker_;
  IdDictionary items_;
};

class ModelRegistry {
 public:
  // Versions are loaded through `sources`: each manifest entry's name picks its loader, and a
  // name `sources` does not know fails the load with the known ones. Shared, so copies of the
  // registry (and the serving objects that hold one) keep it alive without a lifetime rule.
  static StatusOr<ModelRegistry> Open(const std::string& data_dir,
                                      std::shared_ptr<const retrieval::SourceRegistry> sources);

  // Writes a new version of `trained` (item names from `store`) and makes it current.
  StatusOr<std::string> Register(const BundleContents& trained, const store::EventStore& store);
  // The current version's name; NotFound when nothing was trained yet.
  StatusOr<std::string> Current() const;
  std::vector<std::string> Versions() const;  // oldest first
  StatusOr<std::shared_ptr<const RetrievalModel>> Load(const std::string& version) const;
  StatusOr<std::shared_ptr<const RetrievalModel>> LoadCurrent() const;

  const std::string& dir() const { return dir_; }

  // The current version's manifest, read without loading the model's files and without
  // creating anything (Open makes <data>/models), for read-only commands (`funnel stats`).
  // nullopt when nothing was trained yet; an unreadable CURRENT or manifest is an error.
  static StatusOr<std::optional<ModelManifest>> CurrentManifest(const std::string& data_dir);

 private:
  std::string dir_;  // <data>/models
  std::shared_ptr<const retrieval::SourceRegistry> sources_;  // never null
};

}  // namespace funnel::model
