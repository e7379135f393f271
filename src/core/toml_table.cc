#include "funnel/core/toml_table.h"

#include <cmath>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

namespace funnel {

struct TomlDocument::Impl {
  toml::table root;
  std::string source_name;
};

namespace {

const toml::table* AsTable(const void* p) { return static_cast<const toml::table*>(p); }

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          out += fmt::format("\\u{:04X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        else
          out += c;
    }
  }
  return out + "\"";
}

std::string KeyText(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  return bare ? std::string(key) : Quoted(key);
}

// Shortest text that reads back as the same double, always a TOML float (never an integer).
std::string NumberText(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

// The value as a user would have typed it, for "got ..." in messages.
std::string ValueText(const toml::node& n) {
  std::string s;
  if (auto v = n.value_exact<std::string>()) {
    s = Quoted(*v);
  } else if (auto i = n.value_exact<int64_t>()) {
    s = std::to_string(*i);
  } else if (auto d = n.value_exact<double>()) {
    s = NumberText(*d);
  } else if (auto b = n.value_exact<bool>()) {
    s = *b ? "true" : "false";
  } else if (const toml::array* a = n.as_array()) {
    s = "[";
    for (size_t k = 0; k < a->size(); ++k) s += (k ? ", " : "") + ValueText(*a->get(k));
    s += "]";
  } else if (n.is_table()) {
    s = "a table";
  } else {
    std::ostringstream os;
    n.visit([&os](const auto& x) { os << x; });
    s = os.str();
  }
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string Join(const std::vector<std::string>& v) { return fmt::format("{}", fmt::join(v, ", ")); }

std::string Bound(double v) { return fmt::format("{}", v); }

std::string NumberWant(const NumberRange& r) {
  const bool lo = r.min > -std::numeric_limits<double>::infinity();
  const bool hi = r.max < std::numeric_limits<double>::infinity();
  if (lo && hi)
    return Cat("a number in ", r.min_open ? "(" : "[", Bound(r.min), ", ", Bound(r.max), r.max_open ? ")" : "]");
  if (lo) return Cat("a number ", r.min_open ? "> " : ">= ", Bound(r.min));
  if (hi) return Cat("a number ", r.max_open ? "< " : "<= ", Bound(r.max));
  return "a number";
}

bool InRange(double v, const NumberRange& r) {
  if (r.min > -std::numeric_limits<double>::infinity() && !(r.min_open ? v > r.min : v >= r.min)) return false;
  if (r.max < std::numeric_limits<double>::infinity() && !(r.max_open ? v < r.max : v <= r.max)) return false;
  return true;
}

// Shows a bound the caller set (and non-negative always: an unsigned field's own bound says
// something), and the rest of the field type's bounds only once a value breaks them.
std::string IntWant(const IntRange& r, const IntRange& type, const int64_t* v) {
  const bool lo = r.min > type.min || r.min == 0 || (v != nullptr && *v < r.min);
  const bool hi = r.max < type.max || (v != nullptr && *v > r.max);
  if (lo && hi) return Cat("an integer in ", r.min, "..", r.max);
  if (hi) return Cat("an integer <= ", r.max);
  if (lo) return r.min == 0 ? std::string("a non-negative integer") : Cat("an integer >= ", r.min);
  return "an integer";
}

}  // namespace

StatusOr<TomlDocument> TomlDocument::Parse(std::string_view text, std::string_view source_name) {
  auto impl = std::make_shared<Impl>();
  impl->source_name = std::string(source_name);
  try {  // Debian's toml++ is built with exceptions; they stop here, never crossing our API.
    impl->root = toml::parse(text, source_name);
  } catch (const toml::parse_error& err) {
    return absl::InvalidArgumentError(Cat(source_name, ":", err.source().begin.line, ":",
                                          err.source().begin.column, ": ", err.description()));
  }
  return TomlDocument(std::move(impl));
}

TomlTableReader TomlDocument::Root() const {
  return TomlTableReader(impl_, &impl_->root, "", std::make_shared<std::set<std::string>>());
}

std::vector<std::string> TomlDocument::KeyPaths() const {
  std::vector<std::string> out;
  auto walk = [&out](auto& self, const toml::table& t, const std::string& prefix) -> void {
    for (const auto& [k, v] : t) {
      std::string path = prefix + std::string(k.str());
      out.push_back(path);
      if (const toml::table* sub = v.as_table()) self(self, *sub, path + ".");
    }
  };
  walk(walk, impl_->root, "");
  std::sort(out.begin(), out.end());
  return out;
}

std::string TomlDocument::TextWithout(std::string_view key) const {
  toml::table copy = impl_->root;
  copy.erase(key);
  std::ostringstream os;
  os << copy;
  return os.str();
}

const std::string& TomlDocument::source_name() const { return impl_->source_name; }

TomlTableReader::TomlTableReader(std::shared_ptr<const TomlDocument::Impl> doc, const void* table, std::string prefix,
                                 std::shared_ptr<std::set<std::string>> log)
    : doc_(std::move(doc)), table_(table), prefix_(std::move(prefix)), log_(std::move(log)) {}

const void* TomlTableReader::Find(std::string_view key) {
  seen_.insert(std::string(key));
  log_->insert(prefix_ + std::string(key));
  return table_ == nullptr ? nullptr : AsTable(table_)->get(key);
}

namespace {

Status Error(const std::string& source, const toml::node& n, std::string_view dotted_key, std::string_view what) {
  return absl::InvalidArgumentError(
      Cat(source, ":", uint32_t{n.source().begin.line}, ": key '", dotted_key, "': ", what));
}

Status Expected(const std::string& source, const toml::node& n, std::string_view dotted_key, std::string_view want) {
  return Error(source, n, dotted_key, Cat("expected ", want, ", got ", ValueText(n)));
}

}  // namespace

// The common head of every read: look the key up (recording it), return early when it is
// absent, and name it for messages. A macro because of that early return.
#define FUNNEL_TOML_FIND(node_var, key)                                                   \
  const toml::node* node_var = static_cast<const toml::node*>(Find(key));                 \
  if (node_var == nullptr) return absl::OkStatus();                                       \
  const std::string dotted = prefix_ + std::string(key);                                  \
  const std::string& source = doc_->source_name

Status TomlTableReader::Bool(std::string_view key, bool* out) {
  FUNNEL_TOML_FIND(n, key);
  auto v = n->value_exact<bool>();
  if (!v) return Expected(source, *n, dotted, "true or false");
  *out = *v;
  return absl::OkStatus();
}

Status TomlTableReader::Number(std::string_view key, double* out, NumberRange range) {
  FUNNEL_TOML_FIND(n, key);
  if (!n->is_number() || !InRange(*n->value<double>(), range)) return Expected(source, *n, dotted, NumberWant(range));
  *out = *n->value<double>();
  return absl::OkStatus();
}

Status TomlTableReader::ReadInt(std::string_view key, IntRange range, IntRange type, int64_t* out, bool* found) {
  FUNNEL_TOML_FIND(n, key);
  std::optional<int64_t> v = n->value_exact<int64_t>();
  if (!v) {
    // An integral float (commit_batch = 5.0) has always been accepted.
    if (auto d = n->value_exact<double>(); d && std::trunc(*d) == *d && std::abs(*d) < 9.2e18)
      v = static_cast<int64_t>(*d);
  }
  if (!v) return Expected(source, *n, dotted, IntWant(range, type, nullptr));
  if (*v < range.min || *v > range.max) return Expected(source, *n, dotted, IntWant(range, type, &*v));
  *out = *v;
  *found = true;
  return absl::OkStatus();
}

Status TomlTableReader::String(std::string_view key, std::string* out) {
  FUNNEL_TOML_FIND(n, key);
  auto v = n->value_exact<std::string>();
  if (!v) return Expected(source, *n, dotted, "a string");
  *out = *v;
  return absl::OkStatus();
}

Status TomlTableReader::Choice(std::string_view key, std::string_view what, const std::vector<std::string>& choices,
                               std::string* out) {
  FUNNEL_TOML_FIND(n, key);
  auto v = n->value_exact<std::string>();
  if (!v) return Expected(source, *n, dotted, Cat("a ", what, " name (one of ", Join(choices), ")"));
  if (std::find(choices.begin(), choices.end(), *v) == choices.end())
    return Error(source, *n, dotted, Cat("unknown ", what, " '", *v, "'; known: ", Join(choices)));
  *out = *v;
  return absl::OkStatus();
}

Status TomlTableReader::StringList(std::string_view key, std::vector<std::string>* out) {
  FUNNEL_TOML_FIND(n, key);
  const toml::array* a = n->as_array();
  std::vector<std::string> v;
  for (size_t i = 0; a != nullptr && i < a->size(); ++i) {
    auto s = a->get(i)->value_exact<std::string>();
    if (!s) break;
    v.push_back(*s);
  }
  if (a == nullptr || v.size() != a->size()) return Expected(source, *n, dotted, "an array of strings");
  *out = std::move(v);
  return absl::OkStatus();
}

Status TomlTableReader::NumberList(std::string_view key, std::vector<double>* out) {
  FUNNEL_TOML_FIND(n, key);
  const toml::array* a = n->as_array();
  std::vector<double> v;
  for (size_t i = 0; a != nullptr && i < a->size(); ++i) {
    if (!a->get(i)->is_number()) break;
    v.push_back(*a->get(i)->value<double>());
  }
  if (a == nullptr || v.empty() || v.size() != a->size())
    return Expected(source, *n, dotted, "a non-empty array of numbers");
  *out = std::move(v);
  return absl::OkStatus();
}

Status TomlTableReader::Names(std::string_view key, std::string_view what, const std::vector<std::string>& known,
                              std::vector<std::string>* out) {
  FUNNEL_TOML_FIND(n, key);
  const std::string want = Cat("a non-empty array of ", what, " names (known: ", Join(known), ")");
  const toml::array* a = n->as_array();
  if (a == nullptr || a->empty()) return Expected(source, *n, dotted, want);
  std::vector<std::string> v;
  for (const toml::node& el : *a) {
    auto s = el.value_exact<std::string>();
    if (!s) return Expected(source, *n, dotted, want);
    if (std::find(known.begin(), known.end(), *s) == known.end())
      return Error(source, el, dotted, Cat("unknown ", what, " '", *s, "'; known: ", Join(known)));
    v.push_back(*s);
  }
  *out = std::move(v);
  return absl::OkStatus();
}

Status TomlTableReader::NumberTable(std::string_view key, std::map<std::string, double, std::less<>>* out) {
  FUNNEL_TOML_FIND(n, key);
  const toml::table* t = n->as_table();
  if (t == nullptr) return Expected(source, *n, dotted, "a table of name = number");
  for (const auto& [k, v] : *t)
    if (!v.is_number()) return Expected(source, v, Cat(dotted, ".", k.str()), "a number");
  for (const auto& [k, v] : *t) (*out)[std::string(k.str())] = *v.value<double>();
  return absl::OkStatus();
}

StatusOr<TomlTableReader> TomlTableReader::Table(std::string_view key) {
  const auto* n = static_cast<const toml::node*>(Find(key));
  std::string prefix = prefix_ + std::string(key) + ".";
  if (n != nullptr && !n->is_table())
    return Expected(doc_->source_name, *n, prefix_ + std::string(key), "a table");
  return TomlTableReader(doc_, n == nullptr ? nullptr : n->as_table(), std::move(prefix), log_);
}

void TomlTableReader::Known(std::string_view key) { seen_.insert(std::string(key)); }

Status TomlTableReader::Done() const {
  if (table_ == nullptr) return absl::OkStatus();
  for (const auto& [k, v] : *AsTable(table_)) {
    if (seen_.contains(std::string(k.str()))) continue;
    return absl::InvalidArgumentError(Cat(doc_->source_name, ":", uint32_t{v.source().begin.line}, ": unknown key '",
                                          prefix_, k.str(), "'; known here: ",
                                          Join(std::vector<std::string>(seen_.begin(), seen_.end()))));
  }
  return absl::OkStatus();
}

#undef FUNNEL_TOML_FIND

struct TomlTableWriter::Node {
  std::string path;
  std::vector<std::string> lines;
  std::vector<std::shared_ptr<Node>> children;
};

TomlTableWriter::TomlTableWriter(std::string path) : node_(std::make_shared<Node>()) {
  node_->path = std::move(path);
}

Status TomlTableWriter::Raw(std::string_view key, std::string value) {
  node_->lines.push_back(Cat(KeyText(key), " = ", value));
  return absl::OkStatus();
}

Status TomlTableWriter::Bool(std::string_view key, const bool* v) { return Raw(key, *v ? "true" : "false"); }

Status TomlTableWriter::Number(std::string_view key, const double* v, NumberRange) { return Raw(key, NumberText(*v)); }

Status TomlTableWriter::String(std::string_view key, const std::string* v) { return Raw(key, Quoted(*v)); }

Status TomlTableWriter::StringList(std::string_view key, const std::vector<std::string>* v) {
  std::string s = "[";
  for (size_t i = 0; i < v->size(); ++i) s += (i ? ", " : "") + Quoted((*v)[i]);
  return Raw(key, s + "]");
}

Status TomlTableWriter::NumberList(std::string_view key, const std::vector<double>* v) {
  std::string s = "[";
  for (size_t i = 0; i < v->size(); ++i) s += (i ? ", " : "") + NumberText((*v)[i]);
  return Raw(key, s + "]");
}

Status TomlTableWriter::NumberTable(std::string_view key, const std::map<std::string, double, std::less<>>* v) {
  FUNNEL_ASSIGN_OR_RETURN(TomlTableWriter t, Table(key));
  for (const auto& [name, value] : *v) FUNNEL_RETURN_IF_ERROR(t.Number(name, &value));
  return absl::OkStatus();
}

StatusOr<TomlTableWriter> TomlTableWriter::Table(std::string_view key) {
  auto child = std::make_shared<Node>();
  child->path = node_->path.empty() ? KeyText(key) : Cat(node_->path, ".", KeyText(key));
  node_->children.push_back(child);
  return TomlTableWriter(std::move(child));
}

std::string TomlTableWriter::Text() const {
  std::string out;
  if (!node_->path.empty()) out += Cat("[", node_->path, "]\n");
  for (const std::string& line : node_->lines) out += line + "\n";
  for (const auto& child : node_->children) {
    if (!out.empty()) out += "\n";
    out += TomlTableWriter(child).Text();
  }
  return out;
}

}  // namespace funnel
