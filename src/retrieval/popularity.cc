#include "funnel/retrieval/popularity.h"

#include <algorithm>
#include <cmath>

#include "funnel/core/blob_file.h"

namespace funnel::retrieval {

std::unique_ptr<PopularitySource> PopularitySource::Build(const TrainingSet& ts, const PopularityOptions& options) {
  std::vector<double> counts(ts.num_items, 0);
  const int64_t cut = ts.cutoff.micros();
  const double window_us = options.window_days * 86400e6, half_life_us = options.half_life_days * 86400e6;
  for (const PositiveEvent& p : ts.positives) {
    double age = static_cast<double>(cut - p.ts_us);
    if (window_us > 0 && age > window_us) continue;
    counts[p.item] += half_life_us > 0 ? std::exp2(-age / half_life_us) : 1.0;
  }
  std::vector<float> scores(ts.num_items);
  for (uint32_t i = 0; i < ts.num_items; ++i) scores[i] = static_cast<float>(std::log1p(counts[i]));
  return FromScores(options.name, std::move(scores));
}

std::unique_ptr<PopularitySource> PopularitySource::FromScores(std::string name, std::vector<float> scores) {
  return std::unique_ptr<PopularitySource>(new PopularitySource(std::move(name), std::move(scores)));
}

PopularitySource::PopularitySource(std::string name, std::vector<float> scores)
    : name_(std::move(name)), scores_(std::move(scores)) {
  for (uint32_t i = 0; i < scores_.size(); ++i)
    if (scores_[i] > 0) ranked_.push_back(i);
  std::stable_sort(ranked_.begin(), ranked_.end(), [&](uint32_t a, uint32_t b) { return scores_[a] > scores_[b]; });
}

void PopularitySource::Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const {
  out->clear();
  for (uint32_t i : ranked_) {
    if (out->size() >= params.k) break;
    if (!user.Excluded(i)) out->push_back({i, scores_[i]});
  }
}

void PopularitySource::Score(const UserState&, std::span<const uint32_t> items, Timestamp,
                             std::span<float> out) const {
  for (size_t j = 0; j < items.size(); ++j) out[j] = items[j] < scores_.size() ? scores_[items[j]] : 0.0f;
}

}  // namespace funnel::retrieval

namespace funnel::retrieval {

Status PopularitySource::Save(const std::string& dir) const {
  BlobWriter w("popularity");
  w.Add("scores", scores_);
  return w.Write(Cat(dir, "/", name_, ".blob"));
}

StatusOr<std::unique_ptr<PopularitySource>> PopularitySource::Load(std::string_view name, const std::string& dir) {
  FUNNEL_ASSIGN_OR_RETURN(BlobReader r, BlobReader::Open(Cat(dir, "/", name, ".blob"), "popularity"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<float> scores, r.Get<float>("scores"));
  return FromScores(std::string(name), std::move(scores));
}

}  // namespace funnel::retrieval
