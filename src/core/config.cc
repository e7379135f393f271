#include "funnel/core/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "funnel/core/toml_table.h"

namespace funnel {

double EventsConfig::WeightOf(std::string_view type) const {
  auto it = weights.find(type);
  return it == weights.end() ? default_weight : it->second;
}

bool EventsConfig::IsPositiveType(std::string_view type) const {
  return std::find(positive_types.begin(), positive_types.end(), type) != positive_types.end();
}

namespace {

const std::vector<std::string>& Levels() {
  static const std::vector<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  return kLevels;
}

const std::vector<std::string>& Backends() {
  static const std::vector<std::string> kBackends = {"rocksdb", "memory", "redis"};
  return kBackends;
}

// Every core key, once: reads into a Config through a TomlTableReader, writes one through a
// TomlTableWriter (C is then const Config).
template <typename Io, typename C>
Status BindConfig(Io& root, C& cfg) {
  FUNNEL_RETURN_IF_ERROR(root.Choice("log_level", "level", Levels(), &cfg.log_level));
  root.Known("features");   // [[features]]: parsed and checked by features/feature_spec.h
  root.Known("retrieval");  // [retrieval]: parsed and checked by training/retrieval_options.h
  root.Known("ranking");    // [ranking] and [rerank]: likewise
  root.Known("rerank");
  {
    FUNNEL_ASSIGN_OR_RETURN(auto t, root.Table("store"));
    FUNNEL_RETURN_IF_ERROR(t.Int("commit_batch", &cfg.store.commit_batch, IntRange{.min = 1}));
    FUNNEL_RETURN_IF_ERROR(t.Int("block_cache_mb", &cfg.store.block_cache_mb));
    FUNNEL_RETURN_IF_ERROR(t.Done());
  }
  {
    FUNNEL_ASSIGN_OR_RETURN(auto t, root.Table("events"));
    FUNNEL_RETURN_IF_ERROR(t.StringList("positive_types", &cfg.events.positive_types));
    FUNNEL_RETURN_IF_ERROR(t.Number("rating_positive_threshold", &cfg.events.rating_positive_threshold));
    FUNNEL_RETURN_IF_ERROR(t.Number("default_weight", &cfg.events.default_weight));
    FUNNEL_RETURN_IF_ERROR(t.NumberTable("weights", &cfg.events.weights));
    FUNNEL_RETURN_IF_ERROR(t.Done());
  }
  {
    FUNNEL_ASSIGN_OR_RETURN(auto t, root.Table("import"));
    FUNNEL_RETURN_IF_ERROR(t.Int("max_line_bytes", &cfg.import.max_line_bytes));
    FUNNEL_RETURN_IF_ERROR(t.Int("max_id_bytes", &cfg.import.max_id_bytes));
    FUNNEL_RETURN_IF_ERROR(t.Int("max_context_bytes", &cfg.import.max_context_bytes));
    FUNNEL_RETURN_IF_ERROR(t.Done());
  }
  {
    FUNNEL_ASSIGN_OR_RETURN(auto t, root.Table("online"));
    FUNNEL_RETURN_IF_ERROR(t.Choice("backend", "backend", Backends(), &cfg.online.backend));
    FUNNEL_RETURN_IF_ERROR(t.String("redis_host", &cfg.online.redis_host));
    FUNNEL_RETURN_IF_ERROR(t.Int("redis_port", &cfg.online.redis_port));
    FUNNEL_RETURN_IF_ERROR(t.Int("redis_db", &cfg.online.redis_db));
    FUNNEL_RETURN_IF_ERROR(t.String("key_prefix", &cfg.online.key_prefix));
    FUNNEL_RETURN_IF_ERROR(t.Int("timeout_ms", &cfg.online.timeout_ms));
    FUNNEL_RETURN_IF_ERROR(t.Bool("update_on_ingest", &cfg.online.update_on_ingest));
    FUNNEL_RETURN_IF_ERROR(t.Done());
  }
  {
    FUNNEL_ASSIGN_OR_RETURN(auto t, root.Table("kafka"));
    FUNNEL_RETURN_IF_ERROR(t.Number("give_up_seconds", &cfg.kafka.give_up_seconds, NumberRange{.min = 0}));
    FUNNEL_RETURN_IF_ERROR(t.Done());
  }
  return root.Done();
}

}  // namespace

StatusOr<Config> ParseConfig(std::string_view toml_text, std::string_view source_name) {
  FUNNEL_ASSIGN_OR_RETURN(TomlDocument doc, TomlDocument::Parse(toml_text, source_name));
  Config cfg;
  TomlTableReader root = doc.Root();
  FUNNEL_RETURN_IF_ERROR(BindConfig(root, cfg));
  // An impression only says an item was shown (events/labels.h): listing it would make every
  // exposure a positive for evaluation and retrieval but not for the dataset builder.
  if (cfg.events.IsPositiveType("impression"))
    return absl::InvalidArgumentError(Cat(source_name, ": key 'events.positive_types': 'impression' is an exposure, "
                                          "not a positive; list the feedback types (click, like, ...)"));
  cfg.source_text = std::string(toml_text);
  cfg.source_name = std::string(source_name);
  return cfg;
}

std::string ConfigToml(const Config& cfg) {
  TomlTableWriter root;
  FUNNEL_CHECK(BindConfig(root, cfg).ok());  // writing cannot fail
  return root.Text();
}

std::vector<std::string> ConfigKeys() {
  StatusOr<TomlDocument> empty = TomlDocument::Parse("", "keys");
  FUNNEL_CHECK(empty.ok());
  TomlTableReader root = empty->Root();
  Config cfg;
  FUNNEL_CHECK(BindConfig(root, cfg).ok());
  return root.KnownKeys();
}

StatusOr<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(Cat("cannot open config file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace funnel
