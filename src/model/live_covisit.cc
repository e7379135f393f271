#include "funnel/model/live_covisit.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "funnel/core/blob_file.h"
#include "model/covisit_seed.h"

namespace funnel::model {

namespace fs = std::filesystem;

namespace {
constexpr char kKind[] = "covisit_live";
constexpr char kCounts[] = "counts.";
}  // namespace

std::string LiveCovisit::PathFor(const std::string& data_dir, const std::string& version) {
  return Cat(data_dir, "/covisit_live/", version, ".blob");
}

LiveCovisit::LiveCovisit(std::shared_ptr<const RetrievalModel> model, const retrieval::CovisitSource& covisit,
                         const store::EventStore& store, const EventsConfig& events, std::string path)
    : model_(std::move(model)),
      covisit_(covisit),
      store_(store),
      rule_(store, events, model_->manifest().data),
      path_(std::move(path)),
      counts_(covisit.options(), covisit.reference_us()) {}

StatusOr<std::unique_ptr<LiveCovisit>> LiveCovisit::Open(const std::string& data_dir,
                                                         std::shared_ptr<const RetrievalModel> model,
                                                         const store::EventStore& store, const EventsConfig& events,
                                                         LiveOpenReport* report) {
  LiveOpenReport local;
  LiveOpenReport& rep = report ? *report : local;
  rep = {};
  const retrieval::CovisitSource* covisit = internal::FindCovisit(*model);
  if (covisit == nullptr || !covisit->updatable()) return std::unique_ptr<LiveCovisit>();
  const std::string path = PathFor(data_dir, model->manifest().version);
  std::unique_ptr<LiveCovisit> live(new LiveCovisit(model, *covisit, store, events, path));
  if (fs::exists(path)) {
    if (Status s = live->Load(); s.ok()) {
      rep.restored = true;
    } else {
      spdlog::warn("live co-visitation: {}; rebuilding it from the event store", MessageOf(s));
      live.reset(new LiveCovisit(model, *covisit, store, events, path));
    }
  }
  FUNNEL_RETURN_IF_ERROR(live->CatchUp(&rep.caught_up));
  return live;
}

Status LiveCovisit::Load() {
  FUNNEL_ASSIGN_OR_RETURN(BlobReader r, BlobReader::Open(path_, kKind));
  FUNNEL_ASSIGN_OR_RETURN(std::string version, r.GetString("version"));
  FUNNEL_ASSIGN_OR_RETURN(auto head, r.Get<uint64_t>("head"));
  FUNNEL_ASSIGN_OR_RETURN(auto newest, r.Get<int64_t>("newest_us"));
  if (version != model_->manifest().version || head.size() != 3 || newest.size() != 1)
    return absl::DataLossError(Cat(path_, ": written for another model version or unreadable"));
  FUNNEL_ASSIGN_OR_RETURN(counts_, retrieval::CovisitCounts::Read(r, kCounts, covisit_.options(), covisit_.reference_us()));
  watermark_ = head[0];
  positives_ = head[1];
  events_after_cutoff_ = head[2];
  newest_us_ = newest[0];
  return absl::OkStatus();
}

Status LiveCovisit::CatchUp(uint64_t* folded) {
  // The store is ordered by time; only events at or after the cutoff can matter. Collect those
  // stored past the watermark and fold them in arrival order, as they would have been live.
  const uint64_t end = store_.NextSeq();
  if (watermark_ >= end) return absl::OkStatus();
  struct Pending {
    uint64_t seq;
    Timestamp ts;
    UserIdx user;
    ItemIdx item;
    TypeIdx type;
    std::optional<double> value;
  };
  std::vector<Pending> pending;
  FUNNEL_RETURN_IF_ERROR(store_.Replay(model_->manifest().cutoff, Timestamp::Max(), [&](const store::StoredEvent& e) {
    if (e.seq >= watermark_ && e.seq < end) pending.push_back({e.seq, e.ts, e.user, e.item, e.type, e.value});
    return true;
  }));
  std::sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) { return a.seq < b.seq; });
  for (const Pending& p : pending)
    Apply({.ts = p.ts, .seq = p.seq, .user = p.user, .item = p.item, .type = p.type, .value = p.value, .id = {},
           .request_id = {}, .context = {}});
  watermark_ = std::max(watermark_, end);  // the rest of the range is before the cutoff
  dirty_ = true;
  *folded += pending.size();
  return error_;
}

void LiveCovisit::Apply(const store::StoredEvent& e) {
  if (e.seq < watermark_) return;
  watermark_ = e.seq + 1;
  dirty_ = true;
  if (e.ts < model_->manifest().cutoff) return;
  ++events_after_cutoff_;
  if (!rule_.Positive(e.type, e.value)) return;
  if (!counts_.KnowsUser(Raw(e.user))) {
    Status s = internal::SeedUserBeforeCutoff(store_, rule_, covisit_.options(), model_->manifest().cutoff, e.user,
                                              counts_);
    if (!s.ok() && error_.ok()) error_ = s;
  }
  counts_.Add(Raw(e.user), Raw(e.item), e.ts.micros());
  ++positives_;
  newest_us_ = std::max(newest_us_, e.ts.micros());
}

Status LiveCovisit::Persist() {
  FUNNEL_RETURN_IF_ERROR(error_);
  if (std::chrono::steady_clock::now() - last_write_ < std::chrono::seconds(2)) return absl::OkStatus();
  return Flush();
}

Status LiveCovisit::Flush() {
  FUNNEL_RETURN_IF_ERROR(error_);
  if (!dirty_) return absl::OkStatus();
  BlobWriter w(kKind);
  w.AddString("version", model_->manifest().version);
  w.Add("head", std::vector<uint64_t>{watermark_, positives_, events_after_cutoff_});
  w.Add("newest_us", std::vector<int64_t>{newest_us_});
  counts_.Write(w, kCounts);
  // The directory, and the removal of older versions' states (of no further use), once per
  // process: the first write.
  const bool first_write = last_write_ == std::chrono::steady_clock::time_point{};
  const fs::path dir = fs::path(path_).parent_path();
  std::error_code ec;
  if (first_write) {
    fs::create_directories(dir, ec);
    if (ec) return absl::InternalError(Cat("cannot create ", dir.string(), ": ", ec.message()));
  }
  FUNNEL_RETURN_IF_ERROR(w.Write(path_));
  if (first_write)
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path() != fs::path(path_) && entry.path().extension() == ".blob") fs::remove(entry.path(), ec);
  dirty_ = false;
  last_write_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

std::shared_ptr<const RetrievalModel> LiveCovisit::Model() const {
  if (positives_ == 0) return model_;
  return model_->WithSource(covisit_, covisit_.WithUpdates(counts_));
}

StatusOr<std::shared_ptr<const RetrievalModel>> LiveCovisit::ModelAt(const std::string& data_dir,
                                                                     std::shared_ptr<const RetrievalModel> model,
                                                                     const store::EventStore& store,
                                                                     const EventsConfig& events, Timestamp until,
                                                                     CatchUpReport* report) {
  CatchUpReport local;
  CatchUpReport& r = report ? *report : local;
  r = {};
  if (until <= model->manifest().cutoff) return model;
  FUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<LiveCovisit> live, Open(data_dir, model, store, events));
  if (live == nullptr) return model;
  if (live->newest_us_ >= until.micros()) return WithEventsSinceCutoff(std::move(model), store, events, until, &r);
  r.live = true;
  r.events = live->events_after_cutoff_;
  r.positives = live->positives_;
  const uint32_t trained = live->covisit_.num_items();
  for (uint32_t i = trained; i < live->counts_.num_items(); ++i) r.new_items += live->counts_.Pairs(i) != nullptr;
  return live->Model();
}

}  // namespace funnel::model
