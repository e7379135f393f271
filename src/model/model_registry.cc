#include "funnel/model/model_registry.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <simdjson.h>
#include <xxhash.h>

#include "funnel/core/blob_file.h"
#include "funnel/core/json_writer.h"
#include "funnel/core/logging.h"
#include "funnel/eval/metrics_json.h"

namespace funnel::model {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kManifestFormat = "funnel-model";
constexpr int kManifestVersion = 1;
constexpr std::string_view kChecksumField = ",\"checksum\":\"";

// The manifest body ends with a checksum of everything before it, so an edited or torn
// manifest is refused like any other model file.
std::string ManifestJson(const ModelManifest& m) {
  JsonWriter w;
  w.StartObject();
  w.Key("format").String(kManifestFormat).Key("format_version").Int(kManifestVersion);
  w.Key("version").String(m.version).Key("cutoff_us").Int(m.cutoff.micros());
  w.Key("cutoff").String(FormatUtc(m.cutoff)).Key("training_events").Uint(m.training_events);
  w.Key("num_users").Uint(m.num_users).Key("num_items").Uint(m.num_items);
  w.Key("max_candidates").Uint(m.max_candidates).Key("train_seconds").Double(m.train_seconds);
  w.Key("validation_users").Uint(m.validation_users);
  w.Key("fusion").StartObject();
  w.Key("normalization").String(m.fusion.normalization == retrieval::FusionOptions::kRank ? "rank" : "score");
  w.Key("rank_offset").Double(m.fusion.rank_offset).EndObject();
  w.Key("data").StartObject();
  w.Key("low_rating").Double(m.data.low_rating).Key("max_watch_ratio").Double(m.data.max_watch_ratio);
  w.Key("half_life_days").Double(m.data.half_life_days).Key("recent_items").Uint(m.data.recent_items);
  w.EndObject();
  w.Key("sources").StartArray();
  for (const auto& source : m.sources) {
    w.StartObject().Key("name").String(source.name).Key("quota").Uint(source.quota);
    w.Key("weight").Double(source.weight).EndObject();
  }
  w.EndArray();
  w.Key("validation").StartArray();
  for (const auto& row : m.validation) {
    w.StartObject().Key("name").String(row.name).Key("params").String(row.params).Key("metrics");
    eval::WriteMetricsJson(w, row.metrics);
    w.EndObject();
  }
  w.EndArray();
  if (!m.ranker.empty()) {
    w.Key("ranker").StartObject().Key("kind").String(m.ranker).Key("depth").Uint(m.ranker_depth).EndObject();
  }
  if (!m.ranking_verdict.empty()) w.Key("ranking_verdict").String(m.ranking_verdict);
  // The checksum field is written last, so the text so far is exactly what kChecksumField follows.
  // It is computed before the key is written: `w.text()` views the writer's buffer, which the
  // key may reallocate (C++17 evaluates Key() before String()'s argument).
  const std::string_view body = w.text();
  const std::string checksum = fmt::format("{:016x}", XXH3_64bits(body.data(), body.size()));
  w.Key("checksum").String(checksum);
  w.EndObject();
  w.EndLine();
  return std::string(w.text());
}

// A validation row's metrics: the eval shape (metrics_json.h), or the flat means that
// manifests written before it hold ({"users","ndcg10","ndcg20","recall20","hit10",
// "coverage10"}), so older bundles still load. Validation figures are informative: a missing
// one reads as 0.
eval::MetricsSummary ReadValidationMetrics(simdjson::simdjson_result<simdjson::dom::element> mm) {
  eval::MetricsSummary out;
  auto number = [&](std::string_view key, auto* value) {
    if (mm[key].get(*value) != simdjson::SUCCESS) *value = {};
  };
  auto metric = [&](std::string_view key, std::string_view old_key, eval::MetricValue* value) {
    simdjson::dom::element e;
    if (mm[key].get(e) == simdjson::SUCCESS) {
      if (e["mean"].get(value->mean) != simdjson::SUCCESS) value->mean = 0;
      if (e["stderr"].get(value->stderr_) != simdjson::SUCCESS) value->stderr_ = 0;
    } else if (!old_key.empty()) {
      number(old_key, &value->mean);
    }
  };
  uint64_t pairs = 0;
  if (mm[eval::kPairsKey].get(pairs) != simdjson::SUCCESS) number("users", &pairs);
  out.users = pairs;
  metric(eval::kNdcg10Key, "ndcg10", &out.ndcg10);
  metric(eval::kNdcg20Key, "ndcg20", &out.ndcg20);
  metric(eval::kRecall20Key, "recall20", &out.recall20);
  metric(eval::kHitRate10Key, "hit10", &out.hit10);
  metric(eval::kRecall100Key, "", &out.recall100);
  metric(eval::kRecall500Key, "", &out.recall500);
  if (mm[eval::kCoverage10Key].get(out.coverage10) != simdjson::SUCCESS) number("coverage10", &out.coverage10);
  return out;
}

Status WriteFileSynced(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(Cat("cannot write ", path));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  return ok ? absl::OkStatus() : absl::InternalError(Cat("cannot write ", path));
}

void SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

StatusOr<ModelManifest> ParseManifest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(Cat("cannot open ", path));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto bad = [&](std::string_view why) { return absl::DataLossError(Cat(path, ": ", why)); };
  size_t at = text.rfind(kChecksumField);
  if (at == std::string::npos) return bad("no checksum (truncated?)");
  std::string want = fmt::format("{:016x}", XXH3_64bits(text.data(), at));
  if (text.compare(at + kChecksumField.size(), want.size(), want) != 0) return bad("checksum mismatch");

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text).get(root)) return bad("not JSON");
  ModelManifest m;
  std::string_view sv;
  int64_t i64 = 0;
  uint64_t u64 = 0;
  double d = 0;
  if (root["format"].get(sv) || sv != kManifestFormat) return bad("not a funnel model manifest");
  if (root["format_version"].get(i64) || i64 != kManifestVersion)
    return bad(Cat("manifest format version ", i64, " (this build reads ", kManifestVersion, ")"));
  auto need = [&](auto err) { return err ? bad("missing or mistyped field") : absl::OkStatus(); };
  FUNNEL_RETURN_IF_ERROR(need(root["version"].get(sv)));
  m.version = std::string(sv);
  FUNNEL_RETURN_IF_ERROR(need(root["cutoff_us"].get(i64)));
  m.cutoff = Timestamp::FromMicros(i64);
  FUNNEL_RETURN_IF_ERROR(need(root["training_events"].get(m.training_events)));
  FUNNEL_RETURN_IF_ERROR(need(root["num_users"].get(u64)));
  m.num_users = static_cast<uint32_t>(u64);
  FUNNEL_RETURN_IF_ERROR(need(root["num_items"].get(u64)));
  m.num_items = static_cast<uint32_t>(u64);
  FUNNEL_RETURN_IF_ERROR(need(root["max_candidates"].get(u64)));
  m.max_candidates = u64;
  FUNNEL_RETURN_IF_ERROR(need(root["train_seconds"].get(m.train_seconds)));
  FUNNEL_RETURN_IF_ERROR(need(root["validation_users"].get(u64)));
  m.validation_users = u64;
  simdjson::dom::element fusion = root["fusion"];
  FUNNEL_RETURN_IF_ERROR(need(fusion["normalization"].get(sv)));
  if (sv != "rank" && sv != "score") return bad(Cat("unknown fusion normalization '", sv, "'"));
  m.fusion.normalization = sv == "rank" ? retrieval::FusionOptions::kRank : retrieval::FusionOptions::kScore;
  FUNNEL_RETURN_IF_ERROR(need(fusion["rank_offset"].get(m.fusion.rank_offset)));
  simdjson::dom::element data = root["data"];
  FUNNEL_RETURN_IF_ERROR(need(data["low_rating"].get(m.data.low_rating)));
  FUNNEL_RETURN_IF_ERROR(need(data["max_watch_ratio"].get(m.data.max_watch_ratio)));
  FUNNEL_RETURN_IF_ERROR(need(data["half_life_days"].get(m.data.half_life_days)));
  FUNNEL_RETURN_IF_ERROR(need(data["recent_items"].get(u64)));
  m.data.recent_items = u64;
  simdjson::dom::array sources;
  FUNNEL_RETURN_IF_ERROR(need(root["sources"].get(sources)));
  for (simdjson::dom::element s : sources) {
    ModelManifest::SourceEntry e;
    FUNNEL_RETURN_IF_ERROR(need(s["name"].get(sv)));
    e.name = std::string(sv);
    FUNNEL_RETURN_IF_ERROR(need(s["quota"].get(u64)));
    e.quota = u64;
    FUNNEL_RETURN_IF_ERROR(need(s["weight"].get(d)));
    e.weight = d;
    m.sources.push_back(std::move(e));
  }
  simdjson::dom::array validation;
  if (!root["validation"].get(validation)) {
    for (simdjson::dom::element v : validation) {
      ValidationRow row;
      std::string_view name, params;
      if (v["name"].get(name) || v["params"].get(params)) continue;
      row.name = std::string(name);
      row.params = std::string(params);
      row.metrics = ReadValidationMetrics(v["metrics"]);
      m.validation.push_back(std::move(row));
    }
  }
  // Optional: manifests of models without a ranker (and of builds before rankers) lack both.
  simdjson::dom::element ranker;
  if (!root["ranker"].get(ranker)) {
    FUNNEL_RETURN_IF_ERROR(need(ranker["kind"].get(sv)));
    m.ranker = std::string(sv);
    FUNNEL_RETURN_IF_ERROR(need(ranker["depth"].get(u64)));
    m.ranker_depth = u64;
  }
  if (!root["ranking_verdict"].get(sv)) m.ranking_verdict = std::string(sv);
  return m;
}

bool IsVersionName(const std::string& s) {
  return s.size() == 7 && s[0] == 'v' && std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

StatusOr<ModelRegistry> ModelRegistry::Open(const std::string& data_dir,
                                            std::shared_ptr<const retrieval::SourceRegistry> sources) {
  FUNNEL_CHECK(sources != nullptr);
  ModelRegistry r;
  r.dir_ = data_dir + "/models";
  r.sources_ = std::move(sources);
  std::error_code ec;
  fs::create_directories(r.dir_, ec);
  if (ec) return absl::InternalError(Cat("cannot create ", r.dir_, ": ", ec.message()));
  return r;
}

std::vector<std::string> ModelRegistry::Versions() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && IsVersionName(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

StatusOr<std::string> ModelRegistry::Current() const {
  std::ifstream in(dir_ + "/CURRENT");
  std::string v;
  if (!in || !std::getline(in, v) || !IsVersionName(v))
    return absl::NotFoundError(Cat("no model in ", dir_, ": run `funnel train` first"));
  return v;
}

StatusOr<std::optional<ModelManifest>> ModelRegistry::CurrentManifest(const std::string& data_dir) {
  const std::string dir = data_dir + "/models";
  std::error_code ec;
  if (!fs::exists(dir + "/CURRENT", ec)) return std::optional<ModelManifest>();
  std::ifstream in(dir + "/CURRENT");
  std::string v;
  if (!in || !std::getline(in, v) || !IsVersionName(v))
    return absl::DataLossError(Cat(dir, "/CURRENT does not name a model version"));
  FUNNEL_ASSIGN_OR_RETURN(ModelManifest m, ParseManifest(Cat(dir, "/", v, "/manifest.json")));
  return std::optional<ModelManifest>(std::move(m));
}

StatusOr<std::string> ModelRegistry::Register(const BundleContents& trained, const store::EventStore& store) {
  std::vector<std::string> versions = Versions();
  const int next = versions.empty() ? 1 : std::stoi(versions.back().substr(1)) + 1;
  const std::string version = fmt::format("v{:06d}", next);
  const std::string tmp = Cat(dir_, "/.tmp-", version), final_dir = Cat(dir_, "/", version);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError(Cat("cannot create ", tmp, ": ", ec.message()));

  ModelManifest m;
  m.version = version;
  m.cutoff = trained.cutoff;
  m.training_events = trained.training_events;
  m.num_users = trained.num_users;
  m.num_items = trained.num_items;
  m.max_candidates = trained.max_candidates;
  m.fusion = trained.fusion;
  m.data = trained.data;
  m.validation = trained.validation;
  m.validation_users = trained.validation_users;
  m.train_seconds = trained.seconds;
  m.ranking_verdict = trained.ranking_verdict;
  for (const retrieval::SourceSlot& s : trained.slots) {
    m.sources.push_back({std::string(s.source->name()), s.quota, s.weight});
    FUNNEL_RETURN_IF_ERROR(s.source->Save(tmp));
  }
  if (trained.ranker != nullptr) {
    m.ranker = trained.ranker->kind();
    m.ranker_depth = trained.ranker->depth();
    FUNNEL_RETURN_IF_ERROR(trained.ranker->Save(tmp + "/ranker.blob"));
  }
  // Item ids in index order: a server without the event store names items from this.
  std::string names;
  std::vector<uint64_t> offsets = {0};
  for (uint32_t i = 0; i < trained.num_items; ++i) {
    names += store.ItemName(ItemIdx{i});
    offsets.push_back(names.size());
  }
  BlobWriter items("items");
  items.AddString("names", names);
  items.Add("offsets", offsets);
  FUNNEL_RETURN_IF_ERROR(items.Write(tmp + "/items.blob"));
  FUNNEL_RETURN_IF_ERROR(WriteFileSynced(tmp + "/manifest.json", ManifestJson(m)));
  SyncDir(tmp);
  fs::rename(tmp, final_dir, ec);
  if (ec) return absl::InternalError(Cat("cannot publish ", final_dir, ": ", ec.message()));
  SyncDir(dir_);
  FUNNEL_RETURN_IF_ERROR(WriteFileSynced(dir_ + "/CURRENT.tmp", version + "\n"));
  fs::rename(dir_ + "/CURRENT.tmp", dir_ + "/CURRENT", ec);
  if (ec) return absl::InternalError(Cat("cannot update ", dir_, "/CURRENT: ", ec.message()));
  SyncDir(dir_);
  return version;
}

StatusOr<std::shared_ptr<const RetrievalModel>> ModelRegistry::Load(const std::string& version) const {
  if (!IsVersionName(version)) return absl::InvalidArgumentError(Cat("'", version, "' is not a model version"));
  const std::string dir = Cat(dir_, "/", version);
  auto model = std::make_shared<RetrievalModel>();
  FUNNEL_ASSIGN_OR_RETURN(model->manifest_, ParseManifest(dir + "/manifest.json"));
  FUNNEL_ASSIGN_OR_RETURN(BlobReader items, BlobReader::Open(dir + "/items.blob", "items"));
  FUNNEL_ASSIGN_OR_RETURN(std::string names, items.GetString("names"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<uint64_t> offsets, items.Get<uint64_t>("offsets"));
  if (offsets.size() != size_t{model->manifest_.num_items} + 1 || offsets.back() != names.size())
    return absl::DataLossError(Cat(dir, "/items.blob: does not match the manifest"));
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    if (offsets[i] > offsets[i + 1]) return absl::DataLossError(Cat(dir, "/items.blob: bad offsets"));
    model->items_.Restore(static_cast<uint32_t>(i), std::string_view(names).substr(offsets[i], offsets[i + 1] - offsets[i]));
  }
  std::vector<retrieval::SourceSlot> slots;
  for (const auto& s : model->manifest_.sources) {
    FUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<const retrieval::Source> src, sources_->Load(s.name, dir));
    slots.push_back({std::move(src), s.quota, s.weight});
  }
  model->merger_ = std::make_unique<retrieval::Merger>(std::move(slots), model->manifest_.max_candidates,
                                                       model->manifest_.fusion);
  if (!model->manifest_.ranker.empty()) {
    FUNNEL_ASSIGN_OR_RETURN(model->ranker_, ranking::CandidateRanker::Load(dir + "/ranker.blob"));
    // The ranker's rows are the merger's sources in the merger's order: anything else would
    // feed it the wrong columns.
    const std::vector<std::string> own = ranking::CandidateFeatureNames(model->merger_->SourceNames());
    const std::vector<std::string>& features = model->ranker_->features();
    if (features.size() < own.size() || !std::equal(own.begin(), own.end(), features.begin()))
      return absl::DataLossError(Cat(dir, "/ranker.blob: its features do not match the model's sources"));
  }
  return std::shared_ptr<const RetrievalModel>(std::move(model));
}

std::shared_ptr<const RetrievalModel> RetrievalModel::WithSource(const retrieval::Source& replaced,
                                                                std::shared_ptr<const retrieval::Source> by) const {
  std::vector<retrieval::SourceSlot> slots = merger_->slots();
  for (retrieval::SourceSlot& slot : slots)
    if (slot.source.get() == &replaced) slot.source = by;
  auto copy = std::make_shared<RetrievalModel>();
  copy->manifest_ = manifest_;
  copy->items_ = items_;
  copy->ranker_ = ranker_;
  copy->merger_ = std::make_unique<retrieval::Merger>(std::move(slots), merger_->max_candidates(), merger_->fusion());
  return copy;
}

StatusOr<std::shared_ptr<const RetrievalModel>> ModelRegistry::LoadCurrent() const {
  FUNNEL_ASSIGN_OR_RETURN(std::string v, Current());
  return Load(v);
}

}  // namespace funnel::model
