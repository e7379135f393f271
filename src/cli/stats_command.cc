// funnel stats: what the store holds, and which model serves.
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/store_access.h"
#include "funnel/core/json_writer.h"
#include "funnel/model/model_registry.h"

namespace funnel::cli {

namespace {

void PrintModel(const std::optional<model::ModelManifest>& m, std::ostream& out) {
  if (!m) {
    out << "model:  none (run funnel train)\n";
    return;
  }
  std::string sources;
  for (const auto& s : m->sources) sources += (sources.empty() ? "" : ", ") + s.name;
  out << fmt::format("model:  {} (trained on {} before {}; {}: {})\n", m->version,
                     Count(m->training_events, "event"), FormatUtc(m->cutoff),
                     Count(m->sources.size(), "source"), sources);  out << "ranker: " << (m->ranker.empty() ? std::string("none (the fusion's order serves)") : m->ranker) << "\n";
}

// A time as both spellings scripts use: RFC 3339 text and exact Unix seconds.
void WriteTime(JsonWriter& w, Timestamp t) {
  w.StartObject().Key("rfc3339").String(FormatUtc(t)).Key("unix_seconds").Fixed(t.micros(), 6).EndObject();
}

// The shape is documented in docs/formats/json.md ("funnel stats --json").
std::string StatsJson(const std::string& data_dir, const store::StoreStats& st,
                      const std::optional<model::ModelManifest>& m) {
  JsonWriter w;
  w.StartObject();
  w.Key("data_dir").String(data_dir);
  w.Key("events").StartObject().Key("total").Uint(st.events).Key("by_type").StartObject();
  for (const auto& [type, n] : st.events_by_type) w.Key(type).Uint(n);
  w.EndObject().EndObject();
  w.Key("users").StartObject().Key("total").Uint(st.users).Key("with_attributes").Uint(st.users_with_attributes);
  w.EndObject();
  w.Key("items").StartObject().Key("total").Uint(st.items).Key("with_metadata").Uint(st.items_with_metadata);
  w.EndObject();
  w.Key("first_event");
  if (st.first_ts) WriteTime(w, *st.first_ts);
  else w.Null();
  w.Key("last_event");
  if (st.last_ts) WriteTime(w, *st.last_ts);
  else w.Null();
  w.Key("disk_bytes").Uint(st.disk_bytes);
  w.Key("model");
  if (m) {
    w.StartObject().Key("version").String(m->version).Key("cutoff");
    WriteTime(w, m->cutoff);
    w.Key("training_events").Uint(m->training_events);
    w.Key("users").Uint(m->num_users).Key("items").Uint(m->num_items);
    w.Key("sources").StartArray();
    for (const auto& s : m->sources) w.String(s.name);
    w.EndArray().Key("ranker");
    if (m->ranker.empty()) w.Null();
    else w.String(m->ranker);
    w.EndObject();
  } else {
    w.Null();
  }
  w.EndObject();
  w.EndLine();
  return std::string(w.text());
}

}  // namespace

void PrintStats(const std::string& data_dir, const store::StoreStats& st, std::ostream& out) {
  out << fmt::format("store:  {}/events ({} on disk)\n", data_dir, HumanBytes(st.disk_bytes));
  out << "events: " << WithCommas(st.events);
  if (st.first_ts) out << " from " << FormatUtc(*st.first_ts) << " to " << FormatUtc(*st.last_ts);
  out << "\n";
  for (const auto& [type, n] : st.events_by_type)
    out << fmt::format("  {:<14} {:>12}\n", type, WithCommas(n));
  out << "users:  " << WithCommas(st.users) << " (" << WithCommas(st.users_with_attributes)
      << " with attributes)\n";
  out << "items:  " << WithCommas(st.items) << " (" << WithCommas(st.items_with_metadata)
      << " with metadata)\n";
}

void AddStatsCommand(CLI::App& app, CommonOptions& common, int* exit_code) {
  CLI::App* sub = app.add_subcommand("stats", "Print what the store holds: counts by type, users, items, time range, size, current model");
  AddCommonFlags(sub, common);
  auto json = std::make_shared<bool>(false);
  sub->add_flag("--json", *json, "Print one JSON object instead (docs/formats/json.md)");
  sub->callback([&common, exit_code, json] {
    StatusOr<Config> cfg = common.LoadConfig();
    if (!cfg.ok()) { *exit_code = Fail(cfg.status()); return; }
    auto store = OpenEventStore(common, *cfg, /*read_only=*/true);
    if (!store.ok()) { *exit_code = Fail(store.status()); return; }
    // The manifest alone: loading the model would read every source's files.
    auto manifest = model::ModelRegistry::CurrentManifest(common.data_dir);
    const store::StoreStats st = (*store)->Stats();
    if (*json) {
      if (!manifest.ok()) { *exit_code = Fail(manifest.status()); return; }  // no half an object
      std::cout << StatsJson(common.data_dir, st, *manifest);
      return;
    }
    // A damaged model does not hide what the store holds: the store first, then the error.
    PrintStats(common.data_dir, st, std::cout);
    if (!manifest.ok()) { *exit_code = Fail(manifest.status()); return; }
    PrintModel(*manifest, std::cout);
  });
}

}  // namespace funnel::cli
