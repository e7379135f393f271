// The online feature store: the feature fold (feature_fold.h) kept current as events arrive and
// persisted in a key-value store (memory, rocksdb or redis: store/kv_store.h), so a restart
// recovers it and several processes can share it.
//
// Two roles:
//  - The writer (import, Kafka ingest, the server's event endpoint) is attached to the event
//    store. Apply() folds each newly stored event, in arrival order, then writes the changed
//    entity records and the watermark (every event with seq < watermark is folded) in one
//    atomic batch. Open() loads the records and folds whatever the event store holds past the
//    watermark, so a crash between the event store's write and the online write loses nothing
//    and applies nothing twice. Changed feature definitions (a different layout hash) rebuild
//    the state from the event store.
//  - Readers have no event store (server replicas sharing a redis backend): Compute() reads
//    the records of the user, the global row, the items and the user's category and creator
//    rows from the key-value store at each request and evaluates them with the same fold code.
// Reads carry a time and are point-in-time exact (Compute): a read the folded state cannot
// answer, being past the time asked, is replayed from the event store.
// On the memory and rocksdb backends the writer answers from memory; on redis every process,
// the writer included, answers from redis, so all of them answer alike.
//
//   FUNNEL_ASSIGN_OR_RETURN(auto kv, store::KvStore::Create({.backend = "rocksdb", .path = dir}));
//   FUNNEL_ASSIGN_OR_RETURN(auto online, OnlineFeatures::Open(specs, store, std::move(kv)));
//   FUNNEL_ASSIGN_OR_RETURN(AppendResult r, store.Append(batch));
//   FUNNEL_RETURN_IF_ERROR(online->Apply(batch, r));
//   FUNNEL_ASSIGN_OR_RETURN(FeatureMatrix x, online->Compute("u1", {"v9", "v10"}, now));
//
// Thread-safety: every method is safe to call concurrently; writers are serialized and
// Compute calls run in parallel with each other.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/events/record_sink.h"
#include "funnel/features/feature_fold.h"
#include "funnel/features/stream_fold.h"
#include "funnel/store/event_store.h"
#include "funnel/store/kv_store.h"

namespace funnel::features {

// Feature vectors of one user against several items, row-major: rows = items.
struct FeatureMatrix {
  size_t rows = 0, cols = 0;
  std::vector<float> values;
  std::span<const float> Row(size_t r) const { return {values.data() + r * cols, cols}; }
};

// How a FeedingSink hands batches to the online features.
struct FeedOptions {
  // Fold and persist each batch on a background thread while the next batch is stored: Append
  // returns once the batch is durable in the event store, the online state follows one batch
  // behind, and Flush() waits for it (importers call it at the end). An error of the online
  // write is returned by the next Append or Flush. Off: Append returns after both.
  bool background = false;
  // Write the folded state to the key-value store once at least this many events were folded
  // since the last write (and at Flush), instead of after every batch: a batch of 100k events
  // dirties most entities of a platform, so writing them all again for every batch dominated
  // an import's online cost. The in-memory state is always current; the persisted one (what
  // other processes read) lags by up to this many events, and after a crash the events past
  // its watermark are folded again from the event store at open. 0: after every batch.
  uint64_t persist_every_events = 0;
};

struct OnlineOpenReport {
  bool rebuilt = false;         // state rebuilt from the event store (new store or new layout)
  uint64_t restored = 0;        // entity records loaded
  uint64_t caught_up = 0;       // events folded past the watermark
};

class OnlineFeatures {
 public:
  // The writer. `store` must outlive the result.
  static StatusOr<std::unique_ptr<OnlineFeatures>> Open(std::vector<FeatureSpec> specs,
                                                        const store::EventStore& store,
                                                        std::unique_ptr<store::KvStore> kv,
                                                        OnlineOpenReport* report = nullptr);
  // A reader of a store some writer keeps current (a shared backend, normally redis).
  static StatusOr<std::unique_ptr<OnlineFeatures>> OpenReader(std::vector<FeatureSpec> specs,
                                                              std::unique_ptr<store::KvStore> kv);
  ~OnlineFeatures();

  // Folds the events of `batch` that the event store just stored (result of its Append) and
  // persists the changes. Events the event store stored without passing through here (another
  // importer) are folded first, from the store.
  Status Apply(std::span<const events::Event> batch, const events::AppendResult& result);
  // Folds every event applied from now on into `fold` as well, and persists it with the records.
  // `fold` must outlive this and be caught up to the writer's watermark by its owner.
  void Attach(StreamFold* fold);
  // Item metadata and user attributes the event store just upserted.
  Status UpsertItems(std::span<const events::Item> items);
  Status UpsertUsers(std::span<const events::User> users);

  // Features of `user` against each of `items` as of t: exactly (bit for bit) what the offline
  // fold of every stored event stamped before t gives, as BuildDataset with until = t folds
  // them; nothing stamped at or after t is used. The folded state answers when it is that fold:
  // every stored event folded, all stamped before t, in time order. Otherwise (t at or before
  // the newest folded event, late events, metadata changed under folded events) the writer
  // replays the rows this read needs from the event store, and a reader, which has no event
  // store, fails with FailedPrecondition. Unknown users and items are expected (cold start):
  // their features take their "no state" values.
  StatusOr<FeatureMatrix> Compute(std::string_view user, std::span<const std::string> items, Timestamp t) const;
  // What the writer's folded state itself says as of t, with no point-in-time check: Compute's
  // answer whenever the state may answer, else the fold in arrival order (a late event taken
  // as at its entity's last update). For tests and diagnostics of the state, not for serving.
  StatusOr<FeatureMatrix> ComputeFolded(std::string_view user, std::span<const std::string> items, Timestamp t) const;

  const std::vector<std::string>& names() const;
  uint64_t watermark() const;
  size_t StateBytes() const;
  std::string_view backend() const;

  // A RecordSink that appends to the event store, then feeds what was stored to `online`:
  // plug it into any importer or the Kafka ingestor. Both must outlive it.
  static std::unique_ptr<events::RecordSink> FeedingSink(store::EventStore& store, OnlineFeatures& online,
                                                         FeedOptions options = {});

 private:
  class Feeder;
  struct ResolvedBatch;  // a stored batch reduced to what the fold reads

  OnlineFeatures() = default;
  // Needs no lock: reads only the event store's dictionaries and the batch.
  ResolvedBatch Resolve(std::span<const events::Event> batch, const events::AppendResult& result) const;
  // Folds the batch; writes the state to the key-value store when `persist`.
  Status ApplyResolved(const ResolvedBatch& batch, bool persist);
  Status PersistIfBehind();                   // takes mu_
  Status Persist();                           // needs mu_ held exclusively
  Status FoldStored(uint64_t from_seq, uint64_t to_seq, uint64_t* folded);  // needs mu_ exclusive
  Status Rebuild();                           // needs mu_ exclusive
  // Folds one stored event, in arrival order; feeds the attached folds too when `attached`.
  void FoldOne(const store::StoredEvent& event, bool attached);  // needs mu_ exclusive
  StatusOr<FeatureMatrix> ComputeFromMemory(std::string_view user, std::span<const std::string> items,
                                            Timestamp t) const;  // needs mu_ held
  // Sets *behind, computing nothing, when the persisted state cannot answer as of t.
  StatusOr<FeatureMatrix> ComputeFromKv(std::string_view user, std::span<const std::string> items, Timestamp t,
                                        bool* behind) const;
  // The point-in-time twin: the offline fold up to t from the event store. Needs no lock.
  StatusOr<FeatureMatrix> ComputeAsOf(std::string_view user, std::span<const std::string> items, Timestamp t) const;

  // Constant after construction.
  std::vector<FeatureSpec> specs_;
  const store::EventStore* store_ = nullptr;  // null for readers
  std::unique_ptr<store::KvStore> kv_;
  bool read_through_ = false;  // compute from the key-value store, not memory

  mutable std::shared_mutex mu_;
  // Guarded by mu_.
  std::unique_ptr<FeatureFold> fold_;
  uint64_t watermark_ = 0;
  bool unpersisted_ = false;  // folded changes not yet written to kv_
  int64_t newest_us_ = std::numeric_limits<int64_t>::min();  // newest event time folded
  // The state is the time-ordered replay of what it folded, under today's item metadata.
  bool time_ordered_ = true;
  std::vector<uint8_t> item_folded_;  // per item: events of it may be folded
  std::vector<StreamFold*> attached_;
};

}  // namespace funnel::features
