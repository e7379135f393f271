// Opening the event store of a data directory, shared by the subcommands.
#pragma once

#include <memory>
#include <ostream>

#include "cli/commands.h"
#include "funnel/store/event_store.h"

namespace funnel::cli {

// The event store lives in <data>/events.
StatusOr<std::unique_ptr<store::EventStore>> OpenEventStore(const CommonOptions& common,
                                                            const Config& cfg, bool read_only);

// Prints the stats block shared by `funnel stats` and `funnel demo`.
void PrintStats(const std::string& data_dir, const store::StoreStats& st, std::ostream& out);

}  // namespace funnel::cli
