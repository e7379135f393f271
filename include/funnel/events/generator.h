// A synthetic short-video platform with a hidden ground truth (`funnel generate`).
//
// Items have categories, creators, durations and upload times; users have hidden tastes and
// activity levels. A feed shows them popular, fresh, personalised and random items (the exposure
// bias of a real feed) and they skip, watch, like and share according to a true affinity.
// Everything is a pure function of the options, so the same options give the same bytes. The
// truth that produced the log is written beside it, so later stages can score a recommender
// against the generator's own ranking (docs/formats/generator-truth.md).
//
//   GeneratorOptions opts;
//   opts.out_dir = "data";  // items.jsonl, events.jsonl, truth.jsonl
//   FUNNEL_ASSIGN_OR_RETURN(GeneratorSummary summary, GeneratePlatform(opts));
//   FUNNEL_ASSIGN_OR_RETURN(GroundTruth truth, GroundTruth::Load("data"));
//   std::optional<double> a = truth.Affinity("u1", "v9", Timestamp::FromSeconds(1700100000));
// Thread-safety: GeneratePlatform is reentrant; a loaded truth is immutable and safe to share.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"

namespace funnel::events {

// Day d of the simulation covers [kGeneratorEpochSeconds + 86400 d, ... + 86400 (d + 1)).
inline constexpr int64_t kGeneratorEpochSeconds = 1700000000;  // 2023-11-14T22:13:20Z
inline constexpr int kGeneratorCategories = 20;
inline constexpr int kGeneratorLatentDim = 8;
inline constexpr int kGeneratorMaxFavoriteCreators = 4;

// Category names; a category's number in the truth file is its index here.
inline constexpr std::array<std::string_view, kGeneratorCategories> kGeneratorCategoryNames = {
    "comedy", "music",   "dance",  "food",   "pets",      "sports", "gaming",
    "beauty", "fashion", "travel", "diy",    "education", "tech",   "fitness",
    "news",   "art",     "cars",   "nature", "science",   "family"};

// The weights of the true affinity (docs/formats/generator-truth.md, format version 1).
inline constexpr double kAffinityCategoryWeight = 1.0;
inline constexpr double kAffinityLatentWeight = 1.0;
inline constexpr double kAffinityCreatorWeight = 0.8;
inline constexpr double kAffinityQualityWeight = 0.5;

struct GeneratorOptions {
  uint32_t users = 5000;
  uint32_t items = 20000;
  uint32_t days = 30;
  uint64_t seed = 42;
  // At the start of this day a share of users move their category tastes; 0 means no drift.
  uint32_t drift_day = 0;
  std::string out_dir;
};

struct GeneratorSummary {
  uint64_t users = 0;
  uint64_t items = 0;
  uint64_t events = 0;
  uint64_t impressions = 0;
  uint64_t sessions = 0;
  uint64_t drifted_users = 0;
};

// Checks the options without touching the disk; the message names the bad option.
Status ValidateGeneratorOptions(const GeneratorOptions& options);

// Writes items.jsonl, events.jsonl (non-decreasing ts) and truth.jsonl into options.out_dir,
// creating it when missing. Memory is bounded by users + items + concurrent sessions, never by
// events. Files are written under temporary names and renamed when complete. Single-threaded;
// concurrent calls are safe when their out_dirs differ.
StatusOr<GeneratorSummary> GeneratePlatform(const GeneratorOptions& options);

// The hidden parameters of one item.
struct TruthItem {
  Timestamp uploaded;
  uint32_t creator = 0;  // creator index: the creator id is "c" + (index + 1)
  uint8_t category_count = 0;
  std::array<uint8_t, 2> categories{};  // indexes into kGeneratorCategoryNames
  uint16_t duration = 0;                // seconds
  float quality = 0;                    // enters the affinity
  float virality = 0;                   // how much the platform pushes it; not in the affinity
  std::array<float, kGeneratorLatentDim> latent{};
};

// The hidden parameters of one user.
struct TruthUser {
  float activity = 0;    // expected sessions per day
  float patience = 0;    // per-item probability of ending a session (lower = longer sessions)
  float watch_bias = 0;  // added to the watch logit
  float like_bias = 0;   // added to the like logit
  uint8_t device = 0;    // index into {"ios", "android", "web"}
  std::array<float, kGeneratorCategories> taste{};
  bool drifted = false;  // when true, drift_taste replaces taste from the drift time on
  std::array<float, kGeneratorCategories> drift_taste{};
  std::array<float, kGeneratorLatentDim> latent{};
  uint8_t creator_count = 0;
  std::array<uint32_t, kGeneratorMaxFavoriteCreators> creators{};  // favourite creator indexes
};

// The true affinity (a logit) of a user for an item; after_drift selects drift_taste for a
// drifted user. The formula is documented in docs/formats/generator-truth.md.
double TrueAffinity(const TruthUser& user, const TruthItem& item, bool after_drift);

// The ground truth of one generated platform, read back from DIR/truth.jsonl.
// Immutable after Load: safe to share between threads.
class GroundTruth {
 public:
  // Reads DIR/truth.jsonl; rejects a wrong format, version, torn file or checksum mismatch.
  static StatusOr<GroundTruth> Load(const std::string& dir);

  uint64_t seed() const { return seed_; }
  uint32_t days() const { return days_; }
  uint32_t drift_day() const { return drift_day_; }
  // Start of the drift day; nullopt when the run had no drift.
  std::optional<Timestamp> drift_time() const { return drift_time_; }

  size_t num_users() const { return users_.size(); }
  size_t num_items() const { return items_.size(); }
  std::optional<UserIdx> FindUser(std::string_view id) const;
  std::optional<ItemIdx> FindItem(std::string_view id) const;
  const std::string& UserId(UserIdx u) const { return user_ids_.Name(Raw(u)); }
  const std::string& ItemId(ItemIdx i) const { return item_ids_.Name(Raw(i)); }
  const TruthUser& user(UserIdx u) const { return users_[Raw(u)]; }
  const TruthItem& item(ItemIdx i) const { return items_[Raw(i)]; }

  // The true affinity at time t (drifted users use their new taste from drift_time() on).
  // nullopt for an unknown user or item.
  std::optional<double> Affinity(std::string_view user, std::string_view item, Timestamp t) const;
  double Affinity(UserIdx user, ItemIdx item, Timestamp t) const;

  // The generator's ranking: the k items uploaded at or before t with the highest true
  // affinity for the user at t, best first (ties: lower item index first).
  std::vector<ItemIdx> TopItems(UserIdx user, Timestamp t, size_t k) const;

 private:
  GroundTruth() = default;

  uint64_t seed_ = 0;
  uint32_t days_ = 0;
  uint32_t drift_day_ = 0;
  std::optional<Timestamp> drift_time_;
  IdDictionary user_ids_;
  IdDictionary item_ids_;
  std::vector<TruthUser> users_;
  std::vector<TruthItem> items_;
};

}  // namespace funnel::events
