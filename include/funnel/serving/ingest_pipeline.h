// The one ingest path: every way events enter Funnel (file imports, Kafka, and the HTTP event
// API) hands its records to an IngestPipeline, which owns the order they go through:
//
//   event store (durable, deduplicated)  →  online features  →  live co-visitation
//
// A batch is acknowledged once it is durable in the event store; the online features and the
// current model's live co-visitation (model/live_covisit.h) are folded from what was stored,
// then written to their stores on Close() (and periodically, per FeedOptions). What was folded
// came from stored events, so Close() keeps it whatever the producer's outcome.
//
//   FUNNEL_ASSIGN_OR_RETURN(auto ingest, IngestPipeline::Open(data_dir, sources, cfg, {.feeding = kFileFeeding}));
//   FUNNEL_ASSIGN_OR_RETURN(auto report, events::ImportJsonLines(path, kind, ingest->sink(), cfg.import, opts));
//   FUNNEL_RETURN_IF_ERROR(ingest->Close());
//
// Thread-safety: sink() is a RecordSink with its contract (one producer at a time); Close()
// once, after the producer is done.
#pragma once

#include <memory>
#include <string>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/events/record_sink.h"
#include "funnel/features/online_store.h"
#include "funnel/model/live_covisit.h"
#include "funnel/retrieval/source_registry.h"
#include "funnel/store/event_store.h"

namespace funnel::serving {

struct IngestOptions {
  // Update the online features (and the live co-visitation) as batches land; also needs
  // [online] update_on_ingest. Off: only the event store; the next process that opens the
  // online store folds what it missed.
  bool online = true;
  features::FeedOptions feeding = {};
};

// How file imports feed the online features: folded on a background thread while the next
// batch is stored, written to the key-value store every million events and at the end, as an
// import dirties most entities in every batch.
inline constexpr features::FeedOptions kFileFeeding{.background = true, .persist_every_events = 1'000'000};

class IngestPipeline {
 public:
  // Opens (creating if needed) the event store of `data_dir`, and when online updates are on,
  // the online features and the current model's live co-visitation, caught up with everything
  // already stored. The model's sources are loaded through `sources`.
  static StatusOr<std::unique_ptr<IngestPipeline>> Open(const std::string& data_dir,
                                                        std::shared_ptr<const retrieval::SourceRegistry> sources,
                                                        const Config& cfg, const IngestOptions& options = {});
  ~IngestPipeline();  // closes if Close() was not called (an error is logged)

  // Where producers put records.
  events::RecordSink& sink() { return *sink_; }
  store::EventStore& store() { return *store_; }
  // nullptr when online updates are off.
  features::OnlineFeatures* online() { return online_.get(); }
  // nullptr when there is no model yet, it has no co-visitation, or online updates are off.
  const model::LiveCovisit* live_covisit() const { return live_.get(); }

  // Waits for the folds to catch up and writes them (the feed first, so the last batch is in
  // the live co-visitation when it is written). Idempotent.
  Status Close();

 private:
  IngestPipeline() = default;

  // Declared in dependency order: destroyed in reverse, so the feed stops before what it feeds.
  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<model::LiveCovisit> live_;
  std::unique_ptr<features::OnlineFeatures> online_;
  std::unique_ptr<events::RecordSink> feeding_;
  events::RecordSink* sink_ = nullptr;
  bool closed_ = false;
};

}  // namespace funnel::serving
