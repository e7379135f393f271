#include "funnel/core/config.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>


namespace funnel {

double EventsConfig::WeightOf(std::string_view type) const {
  auto it = weights.find(type);
  return it == weights.end() ? default_weight : it->second;
}

bool EventsConfig::IsPositiveType(std::string_view type) const {
  return std::find(positive_types.begin(), positive_types.end(), type) != positive_types.end();
}

namespace {

// Walks one TOML table, reading known keys and rejecting unknown ones.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, std::string_view source)
      : table_(table), prefix_(std::move(prefix)), source_(source) {}

  template <typename T>
  Status Read(std::string_view key, T* out) {
    seen_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return absl::OkStatus();
    if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = node->value<std::string>()) { *out = *v; return absl::OkStatus(); }
      return TypeError(key, "a string", *node);
    } else if constexpr (std::is_same_v<T, double>) {
      if (node->is_number()) { *out = *node->value<double>(); return absl::OkStatus(); }
      return TypeError(key, "a number", *node);
    } else if constexpr (std::is_same_v<T, bool>) {
      if (auto v = node->value<bool>()) { *out = *v; return absl::OkStatus(); }
      return TypeError(key, "true or false", *node);
    } else if constexpr (std::is_integral_v<T>) {
      if (auto v = node->value<int64_t>()) { *out = static_cast<T>(*v); return absl::OkStatus(); }
      return TypeError(key, "an integer", *node);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      const toml::array* arr = node->as_array();
      if (arr == nullptr) return TypeError(key, "an array of strings", *node);
      out->clear();
      for (const auto& el : *arr) {
        auto s = el.value<std::string>();
        if (!s) return TypeError(key, "an array of strings", *node);
        out->push_back(*s);
      }
      return absl::OkStatus();
    }
  }

  // Marks a key as known; another stage reads and checks it.
  void Known(std::string_view key) { seen_.insert(std::string(key)); }

  // Marks a key as known without reading it (a sub-table read by its own TableReader).
  Status KnownTable(std::string_view key) {
    seen_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node != nullptr && !node->is_table()) return TypeError(key, "a table", *node);
    return absl::OkStatus();
  }

  Status ReadWeights(std::string_view key, std::map<std::string, double, std::less<>>* out) {
    seen_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return absl::OkStatus();
    const toml::table* t = node->as_table();
    if (t == nullptr) return TypeError(key, "a table of type = weight", *node);
    for (const auto& [k, v] : *t) {
      if (!v.is_number()) return TypeError(std::string(k.str()), "a number", v);
      (*out)[std::string(k.str())] = *v.value<double>();
    }
    return absl::OkStatus();
  }

  Status RejectUnknown() const {
    for (const auto& [k, v] : table_) {
      if (!seen_.contains(std::string(k.str()))) {
        std::vector<std::string> known(seen_.begin(), seen_.end());
        return absl::InvalidArgumentError(
            Cat(source_, ":", uint32_t{v.source().begin.line}, ": unknown key '", prefix_,
                         k.str(), "'; known here: ", fmt::format("{}", fmt::join(known, ", "))));
      }
    }
    return absl::OkStatus();
  }

 private:
  Status TypeError(std::string_view key, std::string_view expected, const toml::node& node) const {
    std::ostringstream got;
    got << node.type();
    return absl::InvalidArgumentError(Cat(source_, ":", uint32_t{node.source().begin.line},
                                                   ": key '", prefix_, key, "': expected ",
                                                   expected, ", got ", got.str()));
  }

  const toml::table& table_;
  std::string prefix_;
  std::string_view source_;
  std::set<std::string> seen_;
};

const toml::table& SubTable(const toml::table& root, std::string_view key) {
  static const toml::table kEmpty;
  const toml::table* t = root[key].as_table();
  return t ? *t : kEmpty;
}

Status Positive(std::string_view source, std::string_view key, double v) {
  if (v > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(Cat(source, ": key '", key, "' must be > 0, got ", v));
}

}  // namespace

StatusOr<Config> ParseConfig(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  try {  // Debian's toml++ is built with exceptions; they stop here, never crossing our API.
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& err) {
    return absl::InvalidArgumentError(Cat(source_name, ":", err.source().begin.line, ":",
                                          err.source().begin.column, ": ", err.description()));
  }
  Config cfg;

  TableReader top(root, "", source_name);
  for (std::string_view section : {"store", "events", "import", "online"}) {
    FUNNEL_RETURN_IF_ERROR(top.KnownTable(section));
  }
  top.Known("features");   // [[features]]: parsed and checked by features/feature_spec.h
  top.Known("retrieval");  // [retrieval]: read and checked by the training options (cli/train_options.cc)
  FUNNEL_RETURN_IF_ERROR(top.Read("log_level", &cfg.log_level));
  FUNNEL_RETURN_IF_ERROR(top.RejectUnknown());

  TableReader store(SubTable(root, "store"), "store.", source_name);
  FUNNEL_RETURN_IF_ERROR(store.Read("commit_batch", &cfg.store.commit_batch));
  FUNNEL_RETURN_IF_ERROR(store.Read("block_cache_mb", &cfg.store.block_cache_mb));
  FUNNEL_RETURN_IF_ERROR(store.RejectUnknown());
  FUNNEL_RETURN_IF_ERROR(Positive(source_name, "store.commit_batch", cfg.store.commit_batch));

  TableReader events(SubTable(root, "events"), "events.", source_name);
  FUNNEL_RETURN_IF_ERROR(events.ReadWeights("weights", &cfg.events.weights));
  FUNNEL_RETURN_IF_ERROR(events.Read("default_weight", &cfg.events.default_weight));
  FUNNEL_RETURN_IF_ERROR(events.Read("positive_types", &cfg.events.positive_types));
  FUNNEL_RETURN_IF_ERROR(
      events.Read("rating_positive_threshold", &cfg.events.rating_positive_threshold));
  FUNNEL_RETURN_IF_ERROR(events.RejectUnknown());
  // An impression only says an item was shown (events/labels.h): listing it would make every
  // exposure a positive for evaluation and retrieval but not for the dataset builder.
  if (cfg.events.IsPositiveType("impression"))
    return absl::InvalidArgumentError(Cat(source_name, ": key 'events.positive_types': 'impression' is an exposure, "
                                          "not a positive; list the feedback types (click, like, ...)"));

  TableReader import(SubTable(root, "import"), "import.", source_name);
  FUNNEL_RETURN_IF_ERROR(import.Read("max_line_bytes", &cfg.import.max_line_bytes));
  FUNNEL_RETURN_IF_ERROR(import.Read("max_id_bytes", &cfg.import.max_id_bytes));
  FUNNEL_RETURN_IF_ERROR(import.Read("max_context_bytes", &cfg.import.max_context_bytes));
  FUNNEL_RETURN_IF_ERROR(import.RejectUnknown());

  TableReader online(SubTable(root, "online"), "online.", source_name);
  FUNNEL_RETURN_IF_ERROR(online.Read("backend", &cfg.online.backend));
  FUNNEL_RETURN_IF_ERROR(online.Read("redis_host", &cfg.online.redis_host));
  FUNNEL_RETURN_IF_ERROR(online.Read("redis_port", &cfg.online.redis_port));
  FUNNEL_RETURN_IF_ERROR(online.Read("redis_db", &cfg.online.redis_db));
  FUNNEL_RETURN_IF_ERROR(online.Read("key_prefix", &cfg.online.key_prefix));
  FUNNEL_RETURN_IF_ERROR(online.Read("timeout_ms", &cfg.online.timeout_ms));
  FUNNEL_RETURN_IF_ERROR(online.Read("update_on_ingest", &cfg.online.update_on_ingest));
  FUNNEL_RETURN_IF_ERROR(online.RejectUnknown());
  if (cfg.online.backend != "rocksdb" && cfg.online.backend != "memory" && cfg.online.backend != "redis")
    return absl::InvalidArgumentError(Cat(source_name, ": key 'online.backend': unknown backend '",
                                          cfg.online.backend, "'; known: rocksdb, memory, redis"));
  cfg.source_text = std::string(toml_text);
  cfg.source_name = std::string(source_name);

  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!kLevels.contains(cfg.log_level)) {
    return absl::InvalidArgumentError(Cat(source_name, ": key 'log_level': unknown level '",
                                                   cfg.log_level,
                                                   "'; known: trace, debug, info, warn, error, off"));
  }
  return cfg;
}

StatusOr<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(Cat("cannot open config file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace funnel
