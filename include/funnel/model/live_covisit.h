// Co-visitation kept current as events stream in. A model's co-visitation counts stop at its
// cutoff; LiveCovisit folds every later positive, in arrival order, into a CovisitCounts with
// the model's options (the fold training used). Attached to the online feature writer (import,
// Kafka ingest: features::StreamFold), it moves with the features and is persisted with them to
// <data>/covisit_live/<version>.blob, with the watermark of the events it covers. A request adds
// the counts to the model's (CovisitSource::WithUpdates) after folding only what was stored
// since the last persist, so a pair, or an upload, that appears after training has neighbours
// at once, without retraining and without rereading everything since the cutoff.
//
//   FUNNEL_ASSIGN_OR_RETURN(auto live, LiveCovisit::Open(data_dir, model, store, cfg.events));
//   if (live) online->Attach(live.get());                                  // import / ingest
//   FUNNEL_ASSIGN_OR_RETURN(model, LiveCovisit::ModelAt(data_dir, model, store, cfg.events, at));  // recommend
//
// Events stamped before the model's cutoff that arrive after training are not folded (as in
// WithEventsSinceCutoff): the next training run counts them.
//
// Thread-safety: Apply and Persist are called by the online writer under its lock; ModelAt is a
// pure function of its inputs and the files.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/features/stream_fold.h"
#include "funnel/retrieval/covisit.h"
#include "funnel/retrieval/training_set.h"
#include "funnel/store/event_store.h"
#include "funnel/model/model_catch_up.h"
#include "funnel/model/model_registry.h"

namespace funnel::model {

struct LiveOpenReport {
  bool restored = false;   // a persisted state of this model version was loaded
  uint64_t caught_up = 0;  // events stored past its watermark, folded at open
};

class LiveCovisit final : public features::StreamFold {
 public:
  // nullptr when the model has no updatable co-visitation source. Loads the persisted state of
  // this model version, if any (an unreadable one is rebuilt from the event store, with a
  // warning: it is derived data), then folds every event stored past its watermark.
  static StatusOr<std::unique_ptr<LiveCovisit>> Open(const std::string& data_dir,
                                                     std::shared_ptr<const RetrievalModel> model,
                                                     const store::EventStore& store, const EventsConfig& events,
                                                     LiveOpenReport* report = nullptr);

  void Apply(const store::StoredEvent& event) override;
  // Writes the state if it changed and the last write is at least 2 s old: the whole state is
  // one file, and a Kafka consumer persists its features after every small batch. Requests
  // fold whatever the file lags by, so nothing is lost in between.
  Status Persist() override;
  // Writes the state if it changed, now (atomically: a reader sees the old file or the new
  // one). Writers call it when they stop.
  Status Flush();

  // The model with everything folded so far added to its co-visitation.
  std::shared_ptr<const RetrievalModel> Model() const;
  uint64_t watermark() const { return watermark_; }  // every event with seq < watermark is folded
  uint64_t positives() const { return positives_; }  // folded into the counts
  int64_t newest_us() const { return newest_us_; }   // newest folded positive's time

  // For a request at `until`: the model's co-visitation with every positive in [cutoff, until)
  // folded in. Uses the persisted live state (plus what was stored since) when it holds nothing
  // at or after `until`; otherwise (a request in the past) refolds from the cutoff
  // (WithEventsSinceCutoff). `report`: what was folded, as WithEventsSinceCutoff reports it.
  static StatusOr<std::shared_ptr<const RetrievalModel>> ModelAt(const std::string& data_dir,
                                                                 std::shared_ptr<const RetrievalModel> model,
                                                                 const store::EventStore& store,
                                                                 const EventsConfig& events, Timestamp until,
                                                                 CatchUpReport* report = nullptr);

  // Where the state of `version` is kept.
  static std::string PathFor(const std::string& data_dir, const std::string& version);

 private:
  LiveCovisit(std::shared_ptr<const RetrievalModel> model, const retrieval::CovisitSource& covisit,
              const store::EventStore& store, const EventsConfig& events, std::string path);
  Status Load();
  Status CatchUp(uint64_t* folded);

  std::shared_ptr<const RetrievalModel> model_;
  const retrieval::CovisitSource& covisit_;  // owned by model_
  const store::EventStore& store_;
  retrieval::StrengthRule rule_;
  const std::string path_;
  retrieval::CovisitCounts counts_;
  uint64_t watermark_ = 0;
  uint64_t positives_ = 0;
  uint64_t events_after_cutoff_ = 0;
  int64_t newest_us_ = INT64_MIN;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_write_{};
  Status error_;  // of a history read inside Apply, returned by the next Persist
};

}  // namespace funnel::model
