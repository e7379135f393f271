// The data directory of a subcommand (--data), opened through the serving stage's one
// definition of its layout (funnel/serving/data_dir.h).
#pragma once

#include <memory>
#include <ostream>

#include "cli/commands.h"
#include "funnel/serving/data_dir.h"

namespace funnel::cli {

inline StatusOr<std::unique_ptr<store::EventStore>> OpenEventStore(const CommonOptions& common, const Config& cfg,
                                                                   bool read_only) {
  return serving::OpenEventStore(common.data_dir, cfg, read_only);
}

inline StatusOr<std::unique_ptr<features::OnlineFeatures>> OpenOnlineFeatures(
    const CommonOptions& common, const Config& cfg, const store::EventStore& store,
    features::OnlineOpenReport* report = nullptr) {
  return serving::OpenOnlineFeatures(common.data_dir, cfg, store, report);
}

using serving::LoadFeatureSpecs;

// Prints the stats block shared by `funnel stats` and `funnel demo`.
void PrintStats(const std::string& data_dir, const store::StoreStats& st, std::ostream& out);

}  // namespace funnel::cli
