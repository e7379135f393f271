// funnel stats: what the store holds.
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"

namespace funnel::cli {

void PrintStats(const std::string& data_dir, const store::StoreStats& st, std::ostream& out) {
  out << fmt::format("store:  {}/events ({} on disk)\n", data_dir, HumanBytes(st.disk_bytes));
  out << "events: " << WithCommas(st.events);
  if (st.first_ts) out << " from " << FormatUtc(*st.first_ts) << " to " << FormatUtc(*st.last_ts);
  out << "\n";
  for (const auto& [type, n] : st.events_by_type)
    out << fmt::format("  {:<14} {:>12}\n", type, WithCommas(n));
  out << "users:  " << WithCommas(st.users) << " (" << WithCommas(st.users_with_attributes)
      << " with attributes)\n";
  out << "items:  " << WithCommas(st.items) << " (" << WithCommas(st.items_with_metadata)
      << " with metadata)\n";
}

void AddStatsCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand("stats", "Print what the store holds: counts by type, users, items, time range, size");
  AddCommonFlags(sub, common);
  sub->callback([&common, exit_code] {
    StatusOr<Config> cfg = common.LoadConfig();
    if (!cfg.ok()) { *exit_code = Fail(cfg.status()); return; }
    auto store = OpenEventStore(common, *cfg, /*read_only=*/true);
    if (!store.ok()) { *exit_code = Fail(store.status()); return; }
    PrintStats(common.data_dir, (*store)->Stats(), std::cout);
  });
}

}  // namespace funnel::cli
