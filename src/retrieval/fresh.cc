#include "funnel/retrieval/fresh.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "funnel/core/blob_file.h"

namespace funnel::retrieval {

std::unique_ptr<FreshSource> FreshSource::Build(const TrainingSet& ts, const FreshOptions& options) {
  std::vector<int64_t> created = ts.item_created_us;
  // Items only known from metadata and created after the cutoff do not exist yet for this model.
  for (int64_t& c : created)
    if (c != TrainingSet::kNever && c >= ts.cutoff.micros()) c = TrainingSet::kNever;
  return FromTimes(std::move(created), options);
}

std::unique_ptr<FreshSource> FreshSource::FromTimes(std::vector<int64_t> created_us, const FreshOptions& options) {
  return std::unique_ptr<FreshSource>(new FreshSource(std::move(created_us), options));
}

FreshSource::FreshSource(std::vector<int64_t> created_us, const FreshOptions& options)
    : created_us_(std::move(created_us)), options_(options) {
  for (uint32_t i = 0; i < created_us_.size(); ++i)
    if (created_us_[i] != TrainingSet::kNever) newest_.push_back(i);
  std::stable_sort(newest_.begin(), newest_.end(),
                   [&](uint32_t a, uint32_t b) { return created_us_[a] > created_us_[b]; });
}

float FreshSource::ScoreAt(uint32_t item, int64_t now_us) const {
  if (item >= created_us_.size() || created_us_[item] == TrainingSet::kNever || created_us_[item] > now_us)
    return -std::numeric_limits<float>::infinity();
  // The log2 of the decay 2^(-age / half_life), not the decay itself: the same order, but a
  // float 2^-x is 0 past 149 half-lives (298 days at the default), so every older item would
  // tie, and a request years after the data would see no fresh order at all.
  const double age_days = static_cast<double>(now_us - created_us_[item]) / 86400e6;
  return static_cast<float>(-age_days / options_.half_life_days);
}

void FreshSource::Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const {
  out->clear();
  const int64_t now = params.now.micros();
  const double max_age_us = options_.max_age_days * 86400e6;
  for (uint32_t i : newest_) {
    if (out->size() >= params.k) break;
    if (created_us_[i] > now) continue;
    if (static_cast<double>(now - created_us_[i]) > max_age_us) break;  // the rest are older still
    if (!user.Excluded(i)) out->push_back({i, ScoreAt(i, now)});
  }
}

void FreshSource::Score(const UserState&, std::span<const uint32_t> items, Timestamp now, std::span<float> out) const {
  for (size_t j = 0; j < items.size(); ++j) out[j] = ScoreAt(items[j], now.micros());
}

}  // namespace funnel::retrieval

namespace funnel::retrieval {

Status FreshSource::Save(const std::string& dir) const {
  BlobWriter w("fresh");
  w.Add("created_us", created_us_);
  w.Add("options", std::vector<double>{options_.half_life_days, options_.max_age_days});
  return w.Write(dir + "/fresh.blob");
}

StatusOr<std::unique_ptr<FreshSource>> FreshSource::Load(std::string_view, const std::string& dir) {
  FUNNEL_ASSIGN_OR_RETURN(BlobReader r, BlobReader::Open(dir + "/fresh.blob", "fresh"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<int64_t> created, r.Get<int64_t>("created_us"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<double> o, r.Get<double>("options"));
  if (o.size() != 2) return absl::DataLossError(Cat(dir, "/fresh.blob: bad options section"));
  return FromTimes(std::move(created), {.half_life_days = o[0], .max_age_days = o[1]});
}

}  // namespace funnel::retrieval
