#include <iostream>

#include "cli/commands.h"
#include "cli/store_access.h"
#include "funnel/core/logging.h"
#include "funnel/training/retrieval_options.h"

namespace funnel::cli {

StatusOr<Config> CommonOptions::LoadConfig() const {
  Config cfg;
  if (!config_path.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(cfg, funnel::LoadConfig(config_path));
    // Every stage's table is checked now, whether or not this command uses it: a typo in
    // [retrieval] must not wait for the next `funnel train` to surface.
    FUNNEL_RETURN_IF_ERROR(training::RetrievalTrainOptionsFromConfig(cfg).status());
    FUNNEL_RETURN_IF_ERROR(LoadFeatureSpecs(cfg).status());
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

