#include <iostream>

#include "cli/commands.h"
#include "funnel/core/logging.h"

namespace funnel::cli {

StatusOr<Config> CommonOptions::LoadConfig() const {
  Config cfg;
  if (!config_path.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(cfg, funnel::LoadConfig(config_path));
  }
  FUNNEL_RETURN_IF_ERROR(SetLogLevel(cfg.log_level));
  return cfg;
}

void AddCommonFlags(CLI::App* sub, CommonOptions& common) {
  sub->add_option("--data", common.data_dir, "Data directory (event store, models)")
      ->capture_default_str();
  sub->add_option("--config", common.config_path,
                  "TOML config file (see funnel.toml for every key and its default)")
      ->check(CLI::ExistingFile);
}

int Fail(const Status& status) {
  std::cerr << "funnel: " << status.message() << "\n";
  return kExitFailure;
}

}  // namespace funnel::cli

#include <filesystem>

#include "cli/store_access.h"

namespace funnel::cli {

StatusOr<std::unique_ptr<store::EventStore>> OpenEventStore(const CommonOptions& common,
                                                            const Config& cfg, bool read_only) {
  store::EventStoreOptions opts;
  opts.path = common.data_dir + "/events";
  if (read_only && !std::filesystem::exists(opts.path + "/CURRENT"))
    return absl::NotFoundError(Cat("no event store in ", common.data_dir,
                                            ": import data first (funnel import ...) or run funnel demo"));
  opts.read_only = read_only;
  opts.create_if_missing = !read_only;
  opts.block_cache_mb = cfg.store.block_cache_mb;
  return store::EventStore::Open(opts);
}

}  // namespace funnel::cli
