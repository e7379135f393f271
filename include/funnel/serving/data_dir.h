// A data directory (`--data DIR`) and how each of its parts is opened, for every process that
// serves from it or writes to it:
//   DIR/events        the durable event store (store/event_store.h)
//   DIR/online        the online feature store, when [online] backend = "rocksdb"
//   DIR/models        the model registry (model/model_registry.h), CURRENT names the served version
//   DIR/covisit_live  the live co-visitation state of each model version (model/live_covisit.h)
//
//   FUNNEL_ASSIGN_OR_RETURN(auto store, OpenEventStore(dir, cfg, /*read_only=*/true));
//
// Thread-safety: free functions, safe to call concurrently; what they open documents its own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/features/feature_spec.h"
#include "funnel/features/online_store.h"
#include "funnel/store/event_store.h"
#include "funnel/store/kv_store.h"

namespace funnel::serving {

// The event store in DIR/events. Read-only opens of a directory without one fail with
// NotFound ("no event store in DIR") and create nothing.
StatusOr<std::unique_ptr<store::EventStore>> OpenEventStore(const std::string& data_dir, const Config& cfg,
                                                            bool read_only);

// The [[features]] definitions of the config, or the shipped set.
StatusOr<std::vector<features::FeatureSpec>> LoadFeatureSpecs(const Config& cfg);

// The online feature store's key-value backend per [online] (rocksdb in DIR/online).
StatusOr<std::unique_ptr<store::KvStore>> OpenOnlineKv(const std::string& data_dir, const Config& cfg);

// The online feature store, as the writer attached to `store` (which must outlive it), caught up
// with every event stored since its last write.
StatusOr<std::unique_ptr<features::OnlineFeatures>> OpenOnlineFeatures(const std::string& data_dir,
                                                                       const Config& cfg,
                                                                       const store::EventStore& store,
                                                                       features::OnlineOpenReport* report = nullptr);

}  // namespace funnel::serving
