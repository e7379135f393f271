// Funnel's configuration, read from TOML (funnel.toml at the repository root documents every
// key with its default). Unknown keys are errors so a typo never silently falls back to a default.
//
//   FUNNEL_ASSIGN_OR_RETURN(Config cfg, LoadConfig("funnel.toml"));   // or Config{} for defaults
//   double w = cfg.events.WeightOf("like");
//
// Thread-safety: Config is a plain value; the functions below are reentrant.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/status.h"

namespace funnel {

struct StoreConfig {
  // Events per durable commit (one synced RocksDB write batch) during imports.
  int commit_batch = 100000;
  // RocksDB block cache, MiB.
  int block_cache_mb = 256;
};

struct EventsConfig {
  // Weight of each event type as implicit feedback; types not listed weigh `default_weight`.
  std::map<std::string, double, std::less<>> weights = {
      {"impression", 0.0}, {"skip", -1.0},  {"click", 1.0},       {"view", 1.0},
      {"watch", 1.0},      {"like", 4.0},   {"dislike", -4.0},    {"share", 6.0},
      {"rating", 1.0},     {"purchase", 8.0}, {"add_to_cart", 3.0}};
  double default_weight = 1.0;
  // Types that count as positives for implicit data (evaluation, training labels).
  std::vector<std::string> positive_types = {"click", "watch", "like", "share", "purchase",
                                             "add_to_cart", "view"};
  // A `rating` event is a positive when value >= this (explicit data).
  double rating_positive_threshold = 4.0;

  double WeightOf(std::string_view type) const;
  bool IsPositiveType(std::string_view type) const;
};

struct ImportConfig {
  size_t max_line_bytes = 1 << 20;   // longer lines are rejected, not parsed
  size_t max_id_bytes = 256;         // user, item, id, request_id
  size_t max_context_bytes = 16384;  // raw JSON of `context` / `attributes`
};

// The online feature store (features/online_store.h).
struct OnlineConfig {
  std::string backend = "rocksdb";  // rocksdb (<data>/online) | memory | redis
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  int redis_db = 0;
  std::string key_prefix = "funnel:";
  int timeout_ms = 2000;
  // Imports and Kafka ingestion update the online state as their batches land. When off, the
  // next process that opens the online store folds what it missed from the event store.
  bool update_on_ingest = true;
};

// `funnel ingest kafka`.
struct KafkaConfig {
  // With no broker reachable for this long (from the start, or since the last sign of one),
  // ingestion gives up with an error instead of retrying forever; 0: retry forever.
  double give_up_seconds = 60;
};

struct Config {
  StoreConfig store;
  EventsConfig events;
  ImportConfig import;
  OnlineConfig online;
  KafkaConfig kafka;
  std::string log_level = "info";
  // The TOML text the config came from ("" for defaults), for stages that read their own
  // sections from it (the [[features]] definitions: features/feature_spec.h).
  std::string source_text;
  std::string source_name = "defaults";
};

// Reads and validates a TOML file's core tables (log_level, [store], [events], [import],
// [online], [kafka]); errors name the file, the line, the key, the bad value and what was expected.
// [retrieval] and [[features]] are left to their stages (training/retrieval_options.h,
// features/feature_spec.h).
StatusOr<Config> LoadConfig(const std::string& path);
StatusOr<Config> ParseConfig(std::string_view toml_text, std::string_view source_name);

// The core tables of `cfg` as TOML that ParseConfig reads back to the same values.
std::string ConfigToml(const Config& cfg);
// Every key ParseConfig reads, dotted ("store.commit_batch"), sorted: for tests that hold
// ConfigToml to writing each one.
std::vector<std::string> ConfigKeys();

}  // namespace funnel
