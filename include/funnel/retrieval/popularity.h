// Popularity sources: what many people engage with, overall or lately. On temporal splits, what
// is popular *now* is one of the strongest single signals (docs/figures.md), so the horizon matters:
// a half-life (exponentially decayed counts) or a window (only the last days before the cutoff).
//
//   auto trending = PopularitySource::Build(training_set, {.name = "trending", .half_life_days = 3});
//
// Scores are log(1 + decayed positive count) as of the training cutoff; every item decays by
// the same factor afterwards, so the ranking is fixed until the next training.
// Thread-safety: immutable after Build; Retrieve/Score are safe concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "funnel/retrieval/source.h"
#include "funnel/retrieval/training_set.h"

namespace funnel::retrieval {

struct PopularityOptions {
  std::string name = "popular";
  double half_life_days = 0;  // > 0: decayed counts
  double window_days = 0;     // > 0: only positives in the last window_days before the cutoff
};

class PopularitySource final : public Source {
 public:
  static std::unique_ptr<PopularitySource> Build(const TrainingSet& ts, const PopularityOptions& options);
  // From saved scores (model bundles): one per item.
  static std::unique_ptr<PopularitySource> FromScores(std::string name, std::vector<float> scores);

  std::string_view name() const override { return name_; }
  void Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const override;
  void Score(const UserState& user, std::span<const uint32_t> items, Timestamp now,
             std::span<float> out) const override;
  Status Save(const std::string& dir) const override;
  static StatusOr<std::unique_ptr<PopularitySource>> Load(std::string_view name, const std::string& dir);
  const std::vector<float>& scores() const { return scores_; }

 private:
  PopularitySource(std::string name, std::vector<float> scores);
  std::string name_;
  std::vector<float> scores_;     // per item
  std::vector<uint32_t> ranked_;  // items with a positive score, best first
};

}  // namespace funnel::retrieval
