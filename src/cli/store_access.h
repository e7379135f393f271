// Opening the event store of a data directory, shared by the subcommands.
#pragma once

#include <memory>
#include <ostream>

#include "cli/commands.h"
#include "funnel/features/feature_spec.h"
#include "funnel/features/online_store.h"
#include "funnel/store/event_store.h"
#include "funnel/training/live_covisit.h"

namespace funnel::cli {

// The event store lives in <data>/events.
StatusOr<std::unique_ptr<store::EventStore>> OpenEventStore(const CommonOptions& common,
                                                            const Config& cfg, bool read_only);

// The [[features]] definitions of the config, or the shipped set.
StatusOr<std::vector<features::FeatureSpec>> LoadFeatureSpecs(const Config& cfg);

// The online feature store's key-value backend per [online] (rocksdb in <data>/online).
StatusOr<std::unique_ptr<store::KvStore>> OpenOnlineKv(const CommonOptions& common, const Config& cfg);

// The online feature store, as the writer attached to `store` (which must outlive it).
StatusOr<std::unique_ptr<features::OnlineFeatures>> OpenOnlineFeatures(
    const CommonOptions& common, const Config& cfg, const store::EventStore& store,
    features::OnlineOpenReport* report = nullptr);

// The current model's live co-visitation (training/live_covisit.h), caught up and attached to
// `online`; nullptr when no model was trained yet or it has no co-visitation source. Must
// outlive `online`'s feeding; call Flush() on it when the writer is done.
StatusOr<std::unique_ptr<training::LiveCovisit>> AttachLiveCovisit(const CommonOptions& common, const Config& cfg,
                                                                   const store::EventStore& store,
                                                                   features::OnlineFeatures& online);

// How file imports feed the online features: folded on a background thread while the next
// batch is stored, written to the key-value store every million events and at the end (the
// importer's Flush), as an import dirties most entities in every batch.
inline constexpr features::FeedOptions kImportFeeding{.background = true, .persist_every_events = 1'000'000};

// Prints the stats block shared by `funnel stats` and `funnel demo`.
void PrintStats(const std::string& data_dir, const store::StoreStats& st, std::ostream& out);

}  // namespace funnel::cli
