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

#include <filesystem>

#include "cli/store_access.h"
#include "funnel/core/logging.h"

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

StatusOr<std::vector<features::FeatureSpec>> LoadFeatureSpecs(const Config& cfg) {
  if (cfg.source_text.empty()) return features::DefaultFeatureSpecs();
  return features::ParseFeatureSpecs(cfg.source_text, cfg.source_name);
}

StatusOr<std::unique_ptr<store::KvStore>> OpenOnlineKv(const CommonOptions& common, const Config& cfg) {
  store::KvOptions o;
  o.backend = cfg.online.backend;
  o.path = common.data_dir + "/online";
  o.redis_host = cfg.online.redis_host;
  o.redis_port = cfg.online.redis_port;
  o.redis_db = cfg.online.redis_db;
  o.key_prefix = cfg.online.key_prefix;
  o.timeout_ms = cfg.online.timeout_ms;
  // No fsync per online write: the event store (synced) is the source of truth. A write lost
  // to a machine crash takes its watermark with it (records and watermark are one atomic
  // batch), and opening refolds every stored event past the surviving watermark; a process
  // crash loses nothing (the write-ahead log is in the OS already). The fsync per batch cost
  // more wall time than the fold itself.
  o.sync = false;
  return store::KvStore::Create(o);
}

StatusOr<std::unique_ptr<features::OnlineFeatures>> OpenOnlineFeatures(const CommonOptions& common,
                                                                       const Config& cfg,
                                                                       const store::EventStore& store,
                                                                       features::OnlineOpenReport* report) {
  FUNNEL_ASSIGN_OR_RETURN(auto specs, LoadFeatureSpecs(cfg));
  FUNNEL_ASSIGN_OR_RETURN(auto kv, OpenOnlineKv(common, cfg));
  features::OnlineOpenReport local;
  features::OnlineOpenReport& rep = report ? *report : local;
  FUNNEL_ASSIGN_OR_RETURN(auto online, features::OnlineFeatures::Open(std::move(specs), store, std::move(kv), &rep));
  if (rep.rebuilt && rep.caught_up > 0)
    spdlog::info("online features: rebuilt from {} stored events", rep.caught_up);
  else if (rep.caught_up > 0)
    spdlog::info("online features: folded {} events stored since the last update", rep.caught_up);
  return online;
}

StatusOr<std::unique_ptr<training::LiveCovisit>> AttachLiveCovisit(const CommonOptions& common, const Config& cfg,
                                                                   const store::EventStore& store,
                                                                   features::OnlineFeatures& online) {
  FUNNEL_ASSIGN_OR_RETURN(training::ModelRegistry registry, training::ModelRegistry::Open(common.data_dir));
  StatusOr<std::shared_ptr<const training::RetrievalModel>> model = registry.LoadCurrent();
  if (absl::IsNotFound(model.status())) return std::unique_ptr<training::LiveCovisit>();
  FUNNEL_RETURN_IF_ERROR(model.status());
  training::LiveOpenReport rep;
  FUNNEL_ASSIGN_OR_RETURN(auto live, training::LiveCovisit::Open(common.data_dir, *model, store, cfg.events, &rep));
  if (live == nullptr) return live;
  if (rep.caught_up > 0)
    spdlog::info("live co-visitation of model {}: folded {} events stored since its last update",
                 (*model)->manifest().version, rep.caught_up);
  online.Attach(live.get());
  return live;
}

}  // namespace funnel::cli
