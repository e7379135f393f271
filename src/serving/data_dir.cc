#include "funnel/serving/data_dir.h"

#include <filesystem>

#include "funnel/core/logging.h"

namespace funnel::serving {

StatusOr<std::unique_ptr<store::EventStore>> OpenEventStore(const std::string& data_dir, const Config& cfg,
                                                            bool read_only) {
  store::EventStoreOptions opts;
  opts.path = data_dir + "/events";
  if (read_only && !std::filesystem::exists(opts.path + "/CURRENT"))
    return absl::NotFoundError(
        Cat("no event store in ", data_dir, ": import data first (funnel import ...) or run funnel demo"));
  opts.read_only = read_only;
  opts.create_if_missing = !read_only;
  opts.block_cache_mb = cfg.store.block_cache_mb;
  return store::EventStore::Open(opts);
}

StatusOr<std::vector<features::FeatureSpec>> LoadFeatureSpecs(const Config& cfg) {
  if (cfg.source_text.empty()) return features::DefaultFeatureSpecs();
  return features::ParseFeatureSpecs(cfg.source_text, cfg.source_name);
}

StatusOr<std::unique_ptr<store::KvStore>> OpenOnlineKv(const std::string& data_dir, const Config& cfg) {
  store::KvOptions o;
  o.backend = cfg.online.backend;
  o.path = data_dir + "/online";
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

StatusOr<std::unique_ptr<features::OnlineFeatures>> OpenOnlineFeatures(const std::string& data_dir,
                                                                       const Config& cfg,
                                                                       const store::EventStore& store,
                                                                       features::OnlineOpenReport* report) {
  FUNNEL_ASSIGN_OR_RETURN(auto specs, LoadFeatureSpecs(cfg));
  FUNNEL_ASSIGN_OR_RETURN(auto kv, OpenOnlineKv(data_dir, cfg));
  features::OnlineOpenReport local;
  features::OnlineOpenReport& rep = report ? *report : local;
  FUNNEL_ASSIGN_OR_RETURN(auto online, features::OnlineFeatures::Open(std::move(specs), store, std::move(kv), &rep));
  if (rep.rebuilt && rep.caught_up > 0)
    spdlog::info("online features: rebuilt from {} stored events", rep.caught_up);
  else if (rep.caught_up > 0)
    spdlog::info("online features: folded {} events stored since the last update", rep.caught_up);
  return online;
}

}  // namespace funnel::serving
