// The fresh source: recently created items, newest first, for cold start and exploration (a
// new upload has no engagement yet, so no other source can find it).
//
// Score: -age / half_life, the log2 of the decay 2^(-age / half_life) (0 for an item uploaded at
// the request time, -1 one half-life later), age from the item's upload time (metadata) or
// first event, as of the request time. In the log domain no age underflows, so items stay in
// age order at any distance in time. Items not created yet at the request time, or of unknown
// creation, score -inf and are never returned.
// Thread-safety: immutable after Build; Retrieve/Score are safe concurrently.
#pragma once

#include <memory>
#include <vector>

#include "funnel/retrieval/source.h"
#include "funnel/retrieval/training_set.h"

namespace funnel::retrieval {

struct FreshOptions {
  double half_life_days = 2;
  double max_age_days = 14;  // older items are not fresh candidates (they still get a score)
};

class FreshSource final : public Source {
 public:
  static std::unique_ptr<FreshSource> Build(const TrainingSet& ts, const FreshOptions& options);
  // created_us: per item, INT64_MAX when unknown.
  static std::unique_ptr<FreshSource> FromTimes(std::vector<int64_t> created_us, const FreshOptions& options);

  std::string_view name() const override { return "fresh"; }
  void Retrieve(const UserState& user, const RetrieveParams& params, std::vector<Candidate>* out) const override;
  void Score(const UserState& user, std::span<const uint32_t> items, Timestamp now,
             std::span<float> out) const override;
  Status Save(const std::string& dir) const override;
  static StatusOr<std::unique_ptr<FreshSource>> Load(std::string_view name, const std::string& dir);
  const std::vector<int64_t>& created_us() const { return created_us_; }
  const FreshOptions& options() const { return options_; }

 private:
  FreshSource(std::vector<int64_t> created_us, const FreshOptions& options);
  float ScoreAt(uint32_t item, int64_t now_us) const;
  std::vector<int64_t> created_us_;
  FreshOptions options_;
  std::vector<uint32_t> newest_;  // items with a known creation time, newest first
};

}  // namespace funnel::retrieval
