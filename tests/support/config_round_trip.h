// Holds a config writer to its parser, key by key, for every key the parser reads (so a key
// added to a parser is covered without touching the test).
//
//   ExpectWritesEveryKey(RetrievalOptionsToml({}), RetrievalOptionKeys());
//   ExpectEveryKeyRoundTrips(RetrievalOptionsToml({}), RetrievalOptionKeys(), parse_then_write, {});
#pragma once

#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "funnel/core/status.h"

namespace funnel::testing {

// A value's meaning, whatever its spelling: 600 and 600.0 are the same number.
inline std::string Canonical(const toml::node& n) {
  if (n.is_number()) return fmt::format("{}", *n.value<double>());
  if (auto s = n.value_exact<std::string>()) return "\"" + *s + "\"";
  if (auto b = n.value_exact<bool>()) return *b ? "true" : "false";
  std::string out;
  if (const toml::array* a = n.as_array()) {
    for (const toml::node& el : *a) out += Canonical(el) + ",";
    return "[" + out + "]";
  }
  if (const toml::table* t = n.as_table()) {
    for (const auto& [k, v] : *t) out += std::string(k.str()) + "=" + Canonical(v) + ",";
    return "{" + out + "}";
  }
  return "?";
}

inline bool HasSubKeys(const std::vector<std::string>& keys, const std::string& key) {
  for (const std::string& k : keys)
    if (k.size() > key.size() && k.compare(0, key.size() + 1, key + ".") == 0) return true;
  return false;
}

// Every key in `keys` appears in `written` (the writer's text).
inline void ExpectWritesEveryKey(const std::string& written, const std::vector<std::string>& keys) {
  toml::table doc = toml::parse(written);
  ASSERT_FALSE(keys.empty());
  for (const std::string& key : keys) EXPECT_TRUE(doc.at_path(key)) << "the writer leaves out '" << key << "'";
}

// Another valid value for a leaf: integers + 1, numbers halved (0 becomes 0.5), booleans flipped,
// arrays changed, strings from `alternatives` (choices) or with a suffix; nullptr when it cannot.
inline std::unique_ptr<toml::node> Changed(const toml::node& n, const std::string& key,
                                           const std::map<std::string, std::string>& alternatives) {
  auto half = [](double v) { return v == 0 ? 0.5 : v / 2; };
  if (auto i = n.value_exact<int64_t>()) return std::make_unique<toml::value<int64_t>>(*i + 1);
  if (auto d = n.value_exact<double>()) return std::make_unique<toml::value<double>>(half(*d));
  if (auto b = n.value_exact<bool>()) return std::make_unique<toml::value<bool>>(!*b);
  if (auto s = n.value_exact<std::string>()) {
    auto it = alternatives.find(key);
    return std::make_unique<toml::value<std::string>>(it != alternatives.end() ? it->second : *s + "x");
  }
  if (const toml::array* a = n.as_array()) {
    auto out = std::make_unique<toml::array>(*a);
    if (!a->empty() && a->get(0)->is_number()) {
      out->insert(out->begin(), half(*a->get(0)->value<double>()));
    } else if (a->size() > 1) {
      out->erase(out->end() - 1);
    } else {
      return nullptr;
    }
    return out;
  }
  if (const toml::table* t = n.as_table()) {  // a table of free names (event weights)
    auto out = std::make_unique<toml::table>(*t);
    out->insert_or_assign("some_custom_name", 2.5);
    return out;
  }
  return nullptr;
}

// For each key the parser reads, a document that changes only that key (from the writer's text for
// the defaults) is parsed and written again, and the written text holds the changed value.
// `parse_then_write` is text -> options -> text.
inline void ExpectEveryKeyRoundTrips(const std::string& defaults_text, const std::vector<std::string>& keys,
                                     const std::function<StatusOr<std::string>(const std::string&)>& parse_then_write,
                                     const std::map<std::string, std::string>& alternatives) {
  StatusOr<std::string> same = parse_then_write(defaults_text);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*same, defaults_text) << "writing what was read changes nothing";
  const toml::table defaults = toml::parse(defaults_text);
  size_t leaves = 0;
  for (const std::string& key : keys) {
    if (HasSubKeys(keys, key)) continue;  // a table of known keys: its keys are checked one by one
    const toml::node* node = defaults.at_path(key).node();
    ASSERT_NE(node, nullptr) << "the writer leaves out '" << key << "'";
    std::unique_ptr<toml::node> changed = Changed(*node, key, alternatives);
    ASSERT_NE(changed, nullptr) << "no other value to try for '" << key << "'";
    const std::string expected = Canonical(*changed);
    toml::table doc = defaults;
    const size_t dot = key.rfind('.');
    toml::table* parent = dot == std::string::npos ? &doc : doc.at_path(key.substr(0, dot)).as_table();
    ASSERT_NE(parent, nullptr) << key;
    const std::string leaf = dot == std::string::npos ? key : key.substr(dot + 1);
    changed->visit([&](auto& v) { parent->insert_or_assign(leaf, std::move(v)); });
    std::ostringstream text;
    text << doc;
    StatusOr<std::string> written = parse_then_write(text.str());
    ASSERT_TRUE(written.ok()) << "'" << key << "' = " << expected << ": " << written.status()
                              << " (give the test another value for this key)";
    const toml::table back = toml::parse(*written);
    const toml::node* got = back.at_path(key).node();
    ASSERT_NE(got, nullptr) << "'" << key << "' is not written back";
    EXPECT_EQ(Canonical(*got), expected) << "'" << key << "' does not survive parse -> write -> parse";
    ++leaves;
  }
  EXPECT_GT(leaves, 0u);
}

}  // namespace funnel::testing
