#include "funnel/features/feature_spec.h"

#include <charconv>
#include <cmath>
#include <set>

#include <toml++/toml.h>

namespace funnel::features {

namespace {

const char kDefaultFeaturesToml[] =
#include "features/default_features.toml.inc"
    ;

template <typename Enum>
struct NamedValue {
  std::string_view name;
  Enum value;
};

constexpr NamedValue<Entity> kEntities[] = {{"user", Entity::kUser},
                                            {"item", Entity::kItem},
                                            {"user_category", Entity::kUserCategory},
                                            {"user_creator", Entity::kUserCreator},
                                            {"global", Entity::kGlobal}};
constexpr NamedValue<Aggregation> kAggregations[] = {
    {"count", Aggregation::kCount},   {"sum", Aggregation::kSum},
    {"mean", Aggregation::kMean},     {"last", Aggregation::kLast},
    {"time_since", Aggregation::kTimeSince}, {"last_n", Aggregation::kLastN},
    {"ratio", Aggregation::kRatio}};
constexpr NamedValue<ValueMode> kValueModes[] = {
    {"one", ValueMode::kOne}, {"value", ValueMode::kValue}, {"watch_ratio", ValueMode::kWatchRatio}};
constexpr NamedValue<Combine> kCombines[] = {
    {"max", Combine::kMax}, {"min", Combine::kMin}, {"sum", Combine::kSum}, {"mean", Combine::kMean}};

template <typename Enum, size_t N>
StatusOr<Enum> Lookup(const NamedValue<Enum> (&table)[N], std::string_view what,
                      std::string_view name, std::string_view feature) {
  std::string known;
  for (const auto& nv : table) {
    if (nv.name == name) return nv.value;
    known += known.empty() ? "" : ", ";
    known += nv.name;
  }
  return absl::InvalidArgumentError(
      Cat("feature '", feature, "': unknown ", what, " '", name, "'; known: ", known));
}

bool ValidName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool ValidStaticSource(std::string_view s) {
  for (std::string_view fixed : {"item.age", "item.duration", "item.category", "item.creator"})
    if (s == fixed) return true;
  for (std::string_view prefix : {"item.attribute.", "user.attribute."})
    if (s.size() > prefix.size() && s.substr(0, prefix.size()) == prefix) return true;
  return false;
}

StatusOr<FeatureSpec> ParseOne(const toml::table& t, std::string_view where) {
  FeatureSpec f;
  std::set<std::string, std::less<>> seen;
  auto err = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        Cat(where, ": feature '", f.name.empty() ? "?" : f.name, "': ", what));
  };
  auto str = [&](std::string_view key, std::string* out) -> Status {
    seen.insert(std::string(key));
    const toml::node* n = t.get(key);
    if (n == nullptr) return absl::OkStatus();
    auto v = n->value<std::string>();
    if (!v) return err(Cat("key '", key, "' must be a string"));
    *out = *v;
    return absl::OkStatus();
  };
  auto num = [&](std::string_view key, double* out) -> Status {
    seen.insert(std::string(key));
    const toml::node* n = t.get(key);
    if (n == nullptr) return absl::OkStatus();
    if (!n->is_number()) return err(Cat("key '", key, "' must be a number"));
    *out = *n->value<double>();
    return absl::OkStatus();
  };
  auto dur = [&](std::string_view key, double* out) -> Status {
    std::string text;
    FUNNEL_RETURN_IF_ERROR(str(key, &text));
    if (text.empty()) return absl::OkStatus();
    StatusOr<double> secs = ParseDuration(text);
    if (!secs.ok()) return err(Cat("key '", key, "': ", MessageOf(secs.status())));
    *out = *secs;
    return absl::OkStatus();
  };

  FUNNEL_RETURN_IF_ERROR(str("name", &f.name));
  if (!ValidName(f.name)) return err("name must be 1 to 64 of [a-z0-9_]");
  std::string source, entity, aggregation, value, combine;
  FUNNEL_RETURN_IF_ERROR(str("source", &source));
  FUNNEL_RETURN_IF_ERROR(str("entity", &entity));
  FUNNEL_RETURN_IF_ERROR(str("aggregation", &aggregation));
  FUNNEL_RETURN_IF_ERROR(str("value", &value));
  FUNNEL_RETURN_IF_ERROR(str("combine", &combine));
  FUNNEL_RETURN_IF_ERROR(dur("half_life", &f.half_life_seconds));
  FUNNEL_RETURN_IF_ERROR(dur("window", &f.window_seconds));
  FUNNEL_RETURN_IF_ERROR(str("numerator", &f.numerator));
  FUNNEL_RETURN_IF_ERROR(str("denominator", &f.denominator));
  FUNNEL_RETURN_IF_ERROR(num("prior_mean", &f.prior_mean));
  FUNNEL_RETURN_IF_ERROR(num("prior_weight", &f.prior_weight));
  double last_n = 0;
  FUNNEL_RETURN_IF_ERROR(num("last_n", &last_n));
  f.last_n = static_cast<int>(last_n);

  seen.insert("types");
  if (const toml::node* n = t.get("types")) {
    const toml::table* types = n->as_table();
    if (types == nullptr) return err("key 'types' must be a table of type = weight");
    for (const auto& [k, v] : *types) {
      if (!v.is_number()) return err(Cat("types.", k.str(), " must be a number"));
      f.types[std::string(k.str())] = *v.value<double>();
    }
  }
  for (const auto& [k, v] : t) {
    if (!seen.contains(k.str()))
      return err(Cat("unknown key '", k.str(),
                     "'; known: name, entity, aggregation, types, value, half_life, window, "
                     "last_n, numerator, denominator, prior_mean, prior_weight, combine, source"));
  }

  if (!source.empty()) {
    if (!ValidStaticSource(source))
      return err(Cat("unknown source '", source,
                     "'; known: item.age, item.duration, item.category, item.creator, "
                     "item.attribute.<key>, user.attribute.<key>"));
    if (!aggregation.empty() || !entity.empty() || !f.types.empty())
      return err("a static feature (source) takes no entity, aggregation or types");
    f.source = source;
    f.aggregation = Aggregation::kStatic;
    f.entity = source.starts_with("user.") ? Entity::kUser : Entity::kItem;
    return f;
  }
  if (aggregation.empty()) return err("needs an aggregation (or a static source)");
  FUNNEL_ASSIGN_OR_RETURN(f.aggregation, Lookup(kAggregations, "aggregation", aggregation, f.name));
  if (!value.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(f.value, Lookup(kValueModes, "value", value, f.name));
  }
  if (!combine.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(f.combine, Lookup(kCombines, "combine", combine, f.name));
  }

  if (f.aggregation == Aggregation::kRatio) {
    if (f.numerator.empty() || f.denominator.empty())
      return err("a ratio needs numerator and denominator (names of other features)");
    if (!entity.empty() || !f.types.empty()) return err("a ratio takes no entity or types");
    if (f.prior_weight < 0) return err("prior_weight must be >= 0");
    return f;
  }
  if (entity.empty()) return err("needs an entity");
  FUNNEL_ASSIGN_OR_RETURN(f.entity, Lookup(kEntities, "entity", entity, f.name));
  if (f.types.empty()) return err("needs at least one event type in 'types'");
  if (f.half_life_seconds > 0 && f.window_seconds > 0)
    return err("give half_life or window, not both");
  if (f.aggregation == Aggregation::kLastN) {
    if (f.entity != Entity::kUser && f.entity != Entity::kItem)
      return err("last_n is for user or item entities");
    if (f.last_n < 1 || f.last_n > 1000) return err("last_n must be between 1 and 1000");
    if (f.half_life_seconds > 0 || f.window_seconds > 0) return err("last_n takes no half_life or window");
  } else if (f.last_n != 0) {
    return err("last_n applies only to aggregation = \"last_n\"");
  }
  if ((f.aggregation == Aggregation::kLast || f.aggregation == Aggregation::kTimeSince) &&
      (f.half_life_seconds > 0 || f.window_seconds > 0))
    return err("last and time_since take no half_life or window");
  if (f.entity == Entity::kGlobal && f.aggregation == Aggregation::kLastN)
    return err("global entity cannot keep last_n");
  return f;
}

}  // namespace

StatusOr<double> ParseDuration(std::string_view text) {
  double number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  std::string_view unit(ptr, text.data() + text.size() - ptr);
  double scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400
               : unit == "w" ? 604800 : 0;
  if (ec != std::errc() || scale == 0 || !(number > 0) || !std::isfinite(number))
    return absl::InvalidArgumentError(
        Cat("'", text, "' is not a duration: use a positive number and s, m, h, d or w, e.g. 1d"));
  return number * scale;
}

std::string_view EntityName(Entity e) {
  for (const auto& nv : kEntities)
    if (nv.value == e) return nv.name;
  return "?";
}

StatusOr<std::vector<FeatureSpec>> ParseFeatureSpecs(std::string_view toml_text,
                                                     std::string_view source_name) {
  toml::table root;
  try {  // Debian's toml++ throws; nothing escapes this function.
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(Cat(source_name, ":", uint32_t{e.source().begin.line}, ": ",
                                          e.description()));
  }
  const toml::node* node = root.get("features");
  if (node == nullptr) return DefaultFeatureSpecs();
  const toml::array* arr = node->as_array();
  if (arr == nullptr) return absl::InvalidArgumentError(Cat(source_name, ": 'features' must be [[features]] tables"));
  std::vector<FeatureSpec> out;
  std::set<std::string, std::less<>> names;
  for (const toml::node& el : *arr) {
    const toml::table* t = el.as_table();
    std::string where = Cat(source_name, ":", uint32_t{el.source().begin.line});
    if (t == nullptr) return absl::InvalidArgumentError(Cat(where, ": each [[features]] entry must be a table"));
    FUNNEL_ASSIGN_OR_RETURN(FeatureSpec f, ParseOne(*t, where));
    if (!names.insert(f.name).second)
      return absl::InvalidArgumentError(Cat(where, ": feature '", f.name, "' is defined twice"));
    out.push_back(std::move(f));
  }
  // Ratios must name numeric, non-ratio features defined somewhere in the set.
  for (const FeatureSpec& f : out) {
    if (f.aggregation != Aggregation::kRatio) continue;
    for (const std::string& part : {f.numerator, f.denominator}) {
      auto it = std::find_if(out.begin(), out.end(), [&](const FeatureSpec& g) { return g.name == part; });
      if (it == out.end())
        return absl::InvalidArgumentError(
            Cat(source_name, ": feature '", f.name, "': ratio part '", part, "' is not a defined feature"));
      if (it->aggregation == Aggregation::kRatio || !it->numeric() ||
          it->aggregation == Aggregation::kStatic ||
          it->entity == Entity::kUserCategory || it->entity == Entity::kUserCreator)
        return absl::InvalidArgumentError(
            Cat(source_name, ": feature '", f.name, "': ratio part '", part,
                "' must be a user, item or global aggregate"));
    }
  }
  return out;
}

std::vector<FeatureSpec> DefaultFeatureSpecs() {
  auto specs = ParseFeatureSpecs(kDefaultFeaturesToml, "default features");
  FUNNEL_CHECK(specs.ok());  // the shipped text is tested; a failure here is a build defect
  return *std::move(specs);
}

}  // namespace funnel::features
