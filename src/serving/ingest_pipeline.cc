#include "funnel/serving/ingest_pipeline.h"

#include "funnel/core/logging.h"
#include "funnel/model/model_registry.h"
#include "funnel/serving/data_dir.h"

namespace funnel::serving {

namespace {

// The current model's live co-visitation, caught up and attached to `online`; nullptr when no
// model was trained yet or it has no co-visitation source.
StatusOr<std::unique_ptr<model::LiveCovisit>> AttachLiveCovisit(const std::string& data_dir,
                                                                std::shared_ptr<const retrieval::SourceRegistry> sources,
                                                                const Config& cfg,
                                                                const store::EventStore& store,
                                                                features::OnlineFeatures& online) {
  FUNNEL_ASSIGN_OR_RETURN(model::ModelRegistry registry, model::ModelRegistry::Open(data_dir, std::move(sources)));
  StatusOr<std::shared_ptr<const model::RetrievalModel>> current = registry.LoadCurrent();
  if (absl::IsNotFound(current.status())) return std::unique_ptr<model::LiveCovisit>();
  FUNNEL_RETURN_IF_ERROR(current.status());
  model::LiveOpenReport rep;
  FUNNEL_ASSIGN_OR_RETURN(auto live, model::LiveCovisit::Open(data_dir, *current, store, cfg.events, &rep));
  if (live == nullptr) return live;
  if (rep.caught_up > 0)
    spdlog::info("live co-visitation of model {}: folded {} events stored since its last update",
                 (*current)->manifest().version, rep.caught_up);
  online.Attach(live.get());
  return live;
}

}  // namespace

StatusOr<std::unique_ptr<IngestPipeline>> IngestPipeline::Open(const std::string& data_dir,
                                                               std::shared_ptr<const retrieval::SourceRegistry> sources,
                                                               const Config& cfg, const IngestOptions& options) {
  std::unique_ptr<IngestPipeline> p(new IngestPipeline());
  FUNNEL_ASSIGN_OR_RETURN(p->store_, OpenEventStore(data_dir, cfg, /*read_only=*/false));
  p->sink_ = p->store_.get();
  if (options.online && cfg.online.update_on_ingest) {
    FUNNEL_ASSIGN_OR_RETURN(p->online_, OpenOnlineFeatures(data_dir, cfg, *p->store_));
    FUNNEL_ASSIGN_OR_RETURN(p->live_, AttachLiveCovisit(data_dir, std::move(sources), cfg, *p->store_, *p->online_));
    p->feeding_ = features::OnlineFeatures::FeedingSink(*p->store_, *p->online_, options.feeding);
    p->sink_ = p->feeding_.get();
  }
  return p;
}

Status IngestPipeline::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  Status s = feeding_ ? feeding_->Flush() : absl::OkStatus();
  if (s.ok() && live_) s = live_->Flush();
  return s;
}

IngestPipeline::~IngestPipeline() {
  if (Status s = Close(); !s.ok()) spdlog::error("ingest: closing the online state failed: {}", MessageOf(s));
}

}  // namespace funnel::serving
