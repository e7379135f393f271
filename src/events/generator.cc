// The synthetic platform behind `funnel generate` (include/funnel/events/generator.h).
//
// Shape of a run: build the catalog (items sorted by upload time), write items.jsonl, stream
// every user's hidden parameters into truth.jsonl, then simulate day by day. Each day every user
// draws a number of sessions; sessions wait in a sorted plan, start when the clock reaches them,
// and live in a min-heap ordered by (time of next event, session uid). A session produces its
// events lazily, one displayed item at a time, from its own random stream seeded by
// (seed, user, day, session#), so memory is bounded by concurrent sessions, not by events, and
// popping the heap yields events in non-decreasing time order.
#include "funnel/events/generator.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include <xxhash.h>

#include "absl/strings/str_cat.h"
#include "funnel/core/json_writer.h"

namespace funnel::events {
namespace {

constexpr int64_t kMsPerHour = 3'600'000;
constexpr int64_t kMsPerDay = 24 * kMsPerHour;
constexpr int64_t kEpochMs = kGeneratorEpochSeconds * 1000;

constexpr uint32_t kMaxUsers = 100'000'000;
constexpr uint32_t kMaxItems = 20'000'000;
constexpr uint32_t kMaxDays = 3650;

// Catalog.
constexpr uint32_t kItemsPerCreator = 8;  // average; the spread is heavy-tailed
constexpr double kCreatorParetoAlpha = 1.6;
constexpr double kBackCatalogShare = 0.4;  // uploaded during the 60 days before day 0
constexpr int64_t kBackCatalogMs = 60 * kMsPerDay;
constexpr double kMinDuration = 5, kMaxDuration = 180;

// Users.
constexpr double kActivityScale = 0.2;        // Pareto minimum, sessions per day
constexpr double kActivityParetoAlpha = 1.8;  // mean 0.45 sessions per day
constexpr double kMaxActivity = 20;
constexpr double kDriftShare = 0.3;

// Feed and sessions.
constexpr int kPageSize = 8;
constexpr size_t kMaxSessionItems = 400;
constexpr int kMaxSessionsPerDay = 60;
constexpr int64_t kFreshWindowMs = 2 * kMsPerDay;
constexpr int64_t kTrendingWindowMs = 7 * kMsPerDay;
constexpr int64_t kBusyRetryMs = 300'000;  // a session whose user is still in another waits
constexpr double kSourcePopular = 0.30, kSourceFresh = 0.15, kSourcePersonal = 0.40;

constexpr std::string_view kDevices[] = {"ios", "android", "web"};
// Relative session starts per hour of the simulated day: quiet nights, busy evenings.
constexpr double kHourWeights[24] = {3, 2, 1, 1, 1, 2, 3, 5,  6,  5,  5, 6,
                                     7, 6, 5, 5, 6, 7, 9, 10, 11, 11, 8, 5};

// ---------------------------------------------------------------------------------------------
// Same seed, same bytes, on every machine. The std:: distributions differ between standard
// libraries, and glibc's exp/log/cos pick FMA or plain variants at run time whose last bits can
// differ between CPUs; so the generator samples with hand-written code on top of exp and log
// built from IEEE basic arithmetic (+ - * / sqrt), which every machine rounds the same way.

constexpr std::array<double, 18> kInverseFactorials = [] {
  std::array<double, 18> c{};
  c[0] = 1.0;
  for (int n = 1; n < 18; ++n) c[n] = c[n - 1] / n;
  return c;
}();

// exp(x) to ~1e-16 relative: x = k ln2 + r, |r| <= ln2 / 2, Taylor series in r, scale by 2^k.
double Exp(double x) {
  if (x < -745) return 0.0;
  if (x > 709) return std::numeric_limits<double>::infinity();
  constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
  const double k = std::nearbyint(x * 1.44269504088896338700);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = kInverseFactorials[17];
  for (int n = 16; n >= 0; --n) p = p * r + kInverseFactorials[n];
  return std::ldexp(p, static_cast<int>(k));
}

// log(x) for finite x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1)).
double Log(double x) {
  int e = 0;
  double m = std::frexp(x, &e);
  if (m < 0.70710678118654752440) {
    m *= 2;
    --e;
  }
  const double s = (m - 1) / (m + 1);
  const double s2 = s * s;
  double p = 1.0 / 25;
  for (int k = 23; k >= 1; k -= 2) p = p * s2 + 1.0 / k;
  return e * 0.69314718055994530942 + 2 * s * p;
}

double Sigmoid(double x) { return 1.0 / (1.0 + Exp(-x)); }

uint64_t Mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Independent random streams per purpose, so adding draws to one never shifts another.
enum class Stream : uint64_t { kCatalog = 1, kUser = 2, kDrift = 3, kDay = 4, kSession = 5 };

uint64_t StreamSeed(uint64_t seed, Stream stream, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0) {
  uint64_t h = Mix64(seed);
  h = Mix64(h ^ static_cast<uint64_t>(stream));
  h = Mix64(h ^ a);
  h = Mix64(h ^ b);
  return Mix64(h ^ c);
}

// xoshiro256** seeded through splitmix64: 32 bytes of state per session where std::mt19937_64
// would carry 2.5 KB.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) {
    for (uint64_t& s : s_) {
      seed = Mix64(seed);
      s = seed;
    }
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // [0, 1) and (0, 1].
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double UniformPositive() { return static_cast<double>((Next() >> 11) + 1) * 0x1.0p-53; }
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }
  bool Chance(double p) { return Uniform() < p; }
  // Marsaglia's polar method: needs only log and sqrt.
  double Normal() {
    while (true) {
      const double u = 2 * Uniform() - 1;
      const double v = 2 * Uniform() - 1;
      const double s = u * u + v * v;
      if (s > 0 && s < 1) return u * std::sqrt(-2 * Log(s) / s);
    }
  }
  double Exponential() { return -Log(UniformPositive()); }
  double Pareto(double scale, double alpha) { return scale * Exp(-Log(UniformPositive()) / alpha); }
  // Knuth's product method; fine for the small means used here.
  int Poisson(double mean, int cap) {
    const double limit = Exp(-mean);
    double p = UniformPositive();
    int k = 0;
    while (p > limit && k < cap) {
      p *= UniformPositive();
      ++k;
    }
    return k;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Truth parameters are rounded to 4 decimals and stored as float, then printed as the shortest
// float that round-trips: the file stays compact and GroundTruth::Load gets the exact values
// the generator used, so its affinities match the generator's bit for bit.
float Quantize(double x) { return static_cast<float>(std::round(x * 1e4) / 1e4) + 0.0f; }

// Category popularity: a few categories are broad (comedy, music), most are niche.
class CategorySampler {
 public:
  CategorySampler() {
    double total = 0;
    for (int c = 0; c < kGeneratorCategories; ++c) {
      total += Exp(-0.9 * Log(c + 2.0));
      cum_[c] = total;
    }
  }
  int Sample(Rng& rng) const {
    const double x = rng.Uniform() * cum_[kGeneratorCategories - 1];
    for (int c = 0; c < kGeneratorCategories; ++c) {
      if (x < cum_[c]) return c;
    }
    return kGeneratorCategories - 1;
  }

 private:
  double cum_[kGeneratorCategories];
};

// Index in [lo, hi) drawn in proportion to weights, given prefix sums (cum[i] = sum of [0, i)).
uint32_t SampleWeighted(const std::vector<double>& cum, uint32_t lo, uint32_t hi, Rng& rng) {
  const double x = cum[lo] + rng.Uniform() * (cum[hi] - cum[lo]);
  auto it = std::upper_bound(cum.begin() + lo + 1, cum.begin() + hi + 1, x);
  const auto idx = static_cast<uint32_t>(it - cum.begin()) - 1;
  return std::min(std::max(idx, lo), hi - 1);
}

// ---------------------------------------------------------------------------------------------
// Output. Lines are written by the common JsonWriter into one large reused buffer that goes out
// with fwrite in multi-megabyte blocks, so a 50 M-event run is bound by the disk, not by
// per-line calls.

// The generator's ids: a prefix and a number ("u12", "e-7"), formatted into `buf`.
class Id {
 public:
  Id(std::string_view prefix, uint64_t n) {
    std::memcpy(buf_, prefix.data(), prefix.size());
    end_ = std::to_chars(buf_ + prefix.size(), buf_ + sizeof(buf_), n).ptr;
  }
  std::string_view view() const { return {buf_, static_cast<size_t>(end_ - buf_)}; }

 private:
  char buf_[32];
  char* end_;
};

void PutFloats(JsonWriter& w, std::span<const float> values) {
  w.StartArray();
  for (float v : values) w.Float(v);
  w.EndArray();
}

// A file of JSON Lines written through the buffer above; errors surface at Close().
// Not thread-safe.
class OutputFile {
 public:
  static constexpr size_t kBufferBytes = 8 << 20;

  OutputFile() = default;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (hash_ != nullptr) XXH3_freeState(hash_);
  }

  Status Open(const std::string& path, bool checksum) {
    path_ = path;
    file_ = std::fopen(path.c_str(), "wb");
    if (file_ == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
    }
    if (checksum) {
      hash_ = XXH3_createState();
      FUNNEL_CHECK(hash_ != nullptr);
      XXH3_64bits_reset(hash_);
    }
    return absl::OkStatus();
  }

  // The writer of the next line; finish the line's value, then call EndLine().
  JsonWriter& line() { return writer_; }
  void EndLine() {
    writer_.EndLine();
    if (writer_.size() >= kBufferBytes) Flush();
  }

  // XXH3-64 of every line ended so far.
  uint64_t Checksum() {
    Flush();
    return XXH3_64bits_digest(hash_);
  }

  Status Close() {
    Flush();
    const bool close_failed = std::fclose(file_) != 0;
    file_ = nullptr;
    if (failed_ || close_failed) {
      return absl::DataLossError(
          absl::StrCat("cannot write ", path_, ": ", std::strerror(error_ != 0 ? error_ : errno)));
    }
    return absl::OkStatus();
  }

 private:
  void Flush() {
    const std::string_view text = writer_.text();
    if (text.empty()) return;
    if (hash_ != nullptr) XXH3_64bits_update(hash_, text.data(), text.size());
    if (!failed_ && std::fwrite(text.data(), 1, text.size(), file_) != text.size()) {
      failed_ = true;
      error_ = errno;
    }
    writer_.Clear();
  }

  std::string path_;
  std::FILE* file_ = nullptr;
  JsonWriter writer_;
  bool failed_ = false;
  int error_ = 0;
  XXH3_state_t* hash_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Catalog.

struct CategoryIndex {
  std::vector<uint32_t> items;  // item indexes in upload order
  std::vector<double> cum;      // prefix sums of virality, size items.size() + 1
};

struct Catalog {
  uint32_t creator_count = 0;
  std::vector<TruthItem> items;      // sorted by upload time: item i is "v" + (i + 1)
  std::vector<int64_t> upload_ms;    // items[i].uploaded, for binary search
  std::vector<double> cum_virality;  // prefix sums over items, size items.size() + 1
  std::array<CategoryIndex, kGeneratorCategories> by_category;
  std::vector<std::vector<uint32_t>> by_creator;  // item indexes in upload order
  // Creators with at least one item, by home category, weighted by item count: how users
  // come to follow the big creators of the categories they like.
  std::array<std::vector<uint32_t>, kGeneratorCategories> creators_by_category;
  std::array<std::vector<double>, kGeneratorCategories> creator_cum;

  // Items uploaded at or before t are exactly the indexes below this count.
  uint32_t AvailableAt(int64_t t_ms) const {
    return static_cast<uint32_t>(std::upper_bound(upload_ms.begin(), upload_ms.end(), t_ms) -
                                 upload_ms.begin());
  }
  uint32_t FirstUploadedAtOrAfter(int64_t t_ms) const {
    return static_cast<uint32_t>(std::lower_bound(upload_ms.begin(), upload_ms.end(), t_ms) -
                                 upload_ms.begin());
  }
};

Catalog BuildCatalog(const GeneratorOptions& options, const CategorySampler& categories) {
  Rng rng(StreamSeed(options.seed, Stream::kCatalog));
  Catalog catalog;
  const uint32_t creator_count = std::max<uint32_t>(1, options.items / kItemsPerCreator);
  catalog.creator_count = creator_count;

  std::vector<double> creator_cum(creator_count + 1, 0.0);
  std::vector<uint8_t> creator_home(creator_count);
  for (uint32_t c = 0; c < creator_count; ++c) {
    creator_cum[c + 1] = creator_cum[c] + rng.Pareto(1.0, kCreatorParetoAlpha);
    creator_home[c] = static_cast<uint8_t>(categories.Sample(rng));
  }

  const auto back_catalog =
      std::max<uint32_t>(1, static_cast<uint32_t>(std::llround(options.items * kBackCatalogShare)));
  const int64_t span_ms = static_cast<int64_t>(options.days) * kMsPerDay;
  std::vector<TruthItem> raw(options.items);
  for (uint32_t i = 0; i < options.items; ++i) {
    TruthItem& item = raw[i];
    item.creator = SampleWeighted(creator_cum, 0, creator_count, rng);
    const double u = rng.Uniform();
    const int64_t uploaded_ms =
        i < back_catalog ? kEpochMs - kBackCatalogMs + static_cast<int64_t>(u * kBackCatalogMs)
                         : kEpochMs + static_cast<int64_t>(u * static_cast<double>(span_ms));
    item.uploaded = Timestamp::FromMicros(uploaded_ms / 1000 * 1'000'000);  // whole seconds
    const int primary = rng.Chance(0.8) ? creator_home[item.creator] : categories.Sample(rng);
    item.categories[0] = static_cast<uint8_t>(primary);
    item.category_count = 1;
    if (rng.Chance(0.3)) {
      for (int attempt = 0; attempt < 8; ++attempt) {
        const int second = categories.Sample(rng);
        if (second != primary) {
          item.categories[1] = static_cast<uint8_t>(second);
          item.category_count = 2;
          break;
        }
      }
    }
    // Log-uniform: short clips are as common as the whole 5-180 s range above them.
    item.duration = static_cast<uint16_t>(
        std::lround(kMinDuration * Exp(rng.Uniform() * Log(kMaxDuration / kMinDuration))));
    const double quality = rng.Normal();
    item.quality = Quantize(quality);
    // Lognormal and partly earned: the platform pushes good items more, but far from only them.
    item.virality = Quantize(Exp(0.8 * quality + 1.3 * rng.Normal()));
    for (float& x : item.latent) x = Quantize(0.5 * rng.Normal());
  }

  std::vector<uint32_t> order(options.items);
  for (uint32_t i = 0; i < options.items; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return raw[a].uploaded != raw[b].uploaded ? raw[a].uploaded < raw[b].uploaded : a < b;
  });
  catalog.items.reserve(options.items);
  for (uint32_t i : order) catalog.items.push_back(raw[i]);
  raw.clear();
  raw.shrink_to_fit();

  catalog.upload_ms.resize(options.items);
  catalog.cum_virality.assign(options.items + 1, 0.0);
  catalog.by_creator.resize(creator_count);
  for (uint32_t i = 0; i < options.items; ++i) {
    const TruthItem& item = catalog.items[i];
    catalog.upload_ms[i] = item.uploaded.micros() / 1000;
    catalog.cum_virality[i + 1] = catalog.cum_virality[i] + item.virality;
    for (int k = 0; k < item.category_count; ++k) {
      CategoryIndex& index = catalog.by_category[item.categories[k]];
      if (index.cum.empty()) index.cum.push_back(0.0);
      index.items.push_back(i);
      index.cum.push_back(index.cum.back() + item.virality);
    }
    catalog.by_creator[item.creator].push_back(i);
  }
  for (uint32_t c = 0; c < creator_count; ++c) {
    if (catalog.by_creator[c].empty()) continue;
    auto& list = catalog.creators_by_category[creator_home[c]];
    auto& cum = catalog.creator_cum[creator_home[c]];
    if (cum.empty()) cum.push_back(0.0);
    list.push_back(c);
    cum.push_back(cum.back() + static_cast<double>(catalog.by_creator[c].size()));
  }
  return catalog;
}

// ---------------------------------------------------------------------------------------------
// Users: regenerated from (seed, user) whenever needed, so nothing per user is kept but its
// activity level.

struct SimUser {
  TruthUser truth;
  // What the platform believes the user likes: the favourites before any drift. The feed keeps
  // serving them after a drift until the session itself shows otherwise.
  int favorite_count = 0;
  std::array<uint8_t, 3> favorites{};
  std::array<double, 3> favorite_share{};
};

// Draws 1-3 distinct favourite categories (none of `avoid`) and their shares of the taste.
int DrawFavorites(Rng& rng, const CategorySampler& categories, std::span<const uint8_t> avoid,
                  std::array<uint8_t, 3>* favorites, std::array<double, 3>* shares) {
  const int wanted = 1 + static_cast<int>(rng.Below(3));
  int count = 0;
  for (int attempt = 0; attempt < 64 && count < wanted; ++attempt) {
    const auto c = static_cast<uint8_t>(categories.Sample(rng));
    const bool taken = std::find(favorites->begin(), favorites->begin() + count, c) !=
                           favorites->begin() + count ||
                       std::find(avoid.begin(), avoid.end(), c) != avoid.end();
    if (!taken) (*favorites)[count++] = c;
  }
  if (count == 0) (*favorites)[count++] = static_cast<uint8_t>(categories.Sample(rng));
  double total = 0;
  for (int k = 0; k < count; ++k) total += ((*shares)[k] = rng.Exponential());
  for (int k = 0; k < count; ++k) (*shares)[k] /= total;
  return count;
}

SimUser MakeUser(const GeneratorOptions& options, const Catalog& catalog,
                 const CategorySampler& categories, uint32_t u) {
  Rng rng(StreamSeed(options.seed, Stream::kUser, u));
  SimUser user;
  TruthUser& t = user.truth;
  const double device = rng.Uniform();
  t.device = device < 0.45 ? 0 : device < 0.9 ? 1 : 2;
  t.activity = Quantize(std::min(kMaxActivity, rng.Pareto(kActivityScale, kActivityParetoAlpha)));
  t.patience = Quantize(0.02 + 0.08 * rng.Uniform());
  t.watch_bias = Quantize(0.5 * rng.Normal());
  t.like_bias = Quantize(0.7 * rng.Normal());

  std::array<double, kGeneratorCategories> base{};
  for (double& x : base) x = -0.8 + 0.3 * rng.Normal();
  user.favorite_count = DrawFavorites(rng, categories, {}, &user.favorites, &user.favorite_share);
  std::array<double, kGeneratorCategories> taste = base;
  for (int k = 0; k < user.favorite_count; ++k) {
    taste[user.favorites[k]] += 1.2 + 1.4 * user.favorite_share[k];
  }
  for (int c = 0; c < kGeneratorCategories; ++c) t.taste[c] = Quantize(taste[c]);
  for (float& x : t.latent) x = Quantize(0.5 * rng.Normal());

  const uint32_t wanted_creators = rng.Below(kGeneratorMaxFavoriteCreators + 1);
  for (uint32_t k = 0; k < wanted_creators; ++k) {
    double x = rng.Uniform();
    int f = 0;
    while (f + 1 < user.favorite_count && x >= user.favorite_share[f])
      x -= user.favorite_share[f++];
    const auto& list = catalog.creators_by_category[user.favorites[f]];
    if (list.empty()) continue;
    const uint32_t creator = list[SampleWeighted(catalog.creator_cum[user.favorites[f]], 0,
                                                 static_cast<uint32_t>(list.size()), rng)];
    const auto end = t.creators.begin() + t.creator_count;
    if (std::find(t.creators.begin(), end, creator) == end) t.creators[t.creator_count++] = creator;
  }

  // Drift draws come from their own stream: a run with drift is identical to one without up
  // to the drift time.
  if (options.drift_day > 0) {
    Rng drift(StreamSeed(options.seed, Stream::kDrift, u));
    if (drift.Chance(kDriftShare)) {
      std::array<uint8_t, 3> moved{};
      std::array<double, 3> shares{};
      const int count = DrawFavorites(
          drift, categories,
          std::span<const uint8_t>(user.favorites.data(), static_cast<size_t>(user.favorite_count)),
          &moved, &shares);
      std::array<double, kGeneratorCategories> after = base;
      for (int k = 0; k < count; ++k) after[moved[k]] += 1.2 + 1.4 * shares[k];
      t.drifted = true;
      for (int c = 0; c < kGeneratorCategories; ++c) t.drift_taste[c] = Quantize(after[c]);
    }
  }
  return user;
}

// ---------------------------------------------------------------------------------------------
// Files other than events.

Status WriteItems(const Catalog& catalog, const std::string& path) {
  OutputFile out;
  FUNNEL_RETURN_IF_ERROR(out.Open(path, /*checksum=*/false));
  for (uint32_t i = 0; i < catalog.items.size(); ++i) {
    const TruthItem& item = catalog.items[i];
    JsonWriter& w = out.line();
    w.StartObject().Key("item").String(Id("v", i + 1).view());
    w.Key("ts").Int(item.uploaded.micros() / 1'000'000).Key("categories").StartArray();
    for (int k = 0; k < item.category_count; ++k) w.String(kGeneratorCategoryNames[item.categories[k]]);
    w.EndArray().Key("creator").String(Id("c", item.creator + 1).view());
    w.Key("attributes").StartObject().Key("duration").Uint(item.duration).EndObject();
    w.EndObject();
    out.EndLine();
  }
  return out.Close();
}

void PutTruthItem(JsonWriter& w, uint32_t i, const TruthItem& item) {
  w.StartObject().Key("item").String(Id("v", i + 1).view());
  w.Key("ts").Int(item.uploaded.micros() / 1'000'000);
  w.Key("creator").String(Id("c", item.creator + 1).view()).Key("categories").StartArray();
  for (int k = 0; k < item.category_count; ++k) w.Uint(item.categories[k]);
  w.EndArray().Key("duration").Uint(item.duration);
  w.Key("quality").Float(item.quality).Key("virality").Float(item.virality).Key("latent");
  PutFloats(w, item.latent);
  w.EndObject();
}

void PutTruthUser(JsonWriter& w, uint32_t u, const TruthUser& user) {
  w.StartObject().Key("user").String(Id("u", u + 1).view()).Key("device").String(kDevices[user.device]);
  w.Key("activity").Float(user.activity).Key("patience").Float(user.patience);
  w.Key("watch_bias").Float(user.watch_bias).Key("like_bias").Float(user.like_bias).Key("taste");
  PutFloats(w, user.taste);
  w.Key("latent");
  PutFloats(w, user.latent);
  w.Key("creators").StartArray();
  for (int k = 0; k < user.creator_count; ++k) w.String(Id("c", user.creators[k] + 1).view());
  w.EndArray();
  if (user.drifted) {
    w.Key("drift_taste");
    PutFloats(w, user.drift_taste);
  }
  w.EndObject();
}

// Writes truth.jsonl (docs/formats/generator-truth.md) and returns each user's activity.
StatusOr<std::vector<float>> WriteTruth(const GeneratorOptions& options, const Catalog& catalog,
                                        const CategorySampler& categories, const std::string& path,
                                        uint64_t* drifted_users) {
  OutputFile out;
  FUNNEL_RETURN_IF_ERROR(out.Open(path, /*checksum=*/true));
  {
    JsonWriter& w = out.line();
    w.StartObject().Key("format").String("funnel-generator-truth").Key("version").Int(1);
    w.Key("seed").Uint(options.seed).Key("users").Uint(options.users).Key("items").Uint(options.items);
    w.Key("creators").Uint(catalog.creator_count).Key("days").Uint(options.days);
    w.Key("epoch").Int(kGeneratorEpochSeconds).Key("drift_day").Uint(options.drift_day).Key("drift_ts");
    if (options.drift_day > 0) {
      w.Int(kGeneratorEpochSeconds + int64_t{86400} * options.drift_day);
    } else {
      w.Null();
    }
    w.Key("latent_dim").Uint(kGeneratorLatentDim).Key("categories").StartArray();
    for (int c = 0; c < kGeneratorCategories; ++c) w.String(kGeneratorCategoryNames[c]);
    w.EndArray().EndObject();
    out.EndLine();
  }

  for (uint32_t i = 0; i < catalog.items.size(); ++i) {
    PutTruthItem(out.line(), i, catalog.items[i]);
    out.EndLine();
  }
  std::vector<float> activity(options.users);
  *drifted_users = 0;
  for (uint32_t u = 0; u < options.users; ++u) {
    const SimUser user = MakeUser(options, catalog, categories, u);
    activity[u] = user.truth.activity;
    *drifted_users += user.truth.drifted ? 1 : 0;
    PutTruthUser(out.line(), u, user.truth);
    out.EndLine();
  }

  const uint64_t checksum = out.Checksum();
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(checksum));
  JsonWriter& w = out.line();
  w.StartObject().Key("end").StartObject();
  w.Key("lines").Uint(uint64_t{1} + options.items + options.users).Key("xxh3").String(hex);
  w.EndObject().EndObject();
  out.EndLine();
  FUNNEL_RETURN_IF_ERROR(out.Close());
  return activity;
}

// ---------------------------------------------------------------------------------------------
// The feed simulation.

enum class EventType : uint8_t { kImpression, kSkip, kWatch, kLike, kShare };
constexpr std::string_view kEventTypeNames[] = {"impression", "skip", "watch", "like", "share"};

struct PendingEvent {
  int64_t ts_ms = 0;
  uint32_t item = 0;
  EventType type = EventType::kImpression;
  int32_t value_tenths = -1;  // -1: no value
};

struct Session {
  uint64_t uid = 0;
  uint32_t user = 0;
  bool started = false;
  bool skipped_last = false;
  Rng rng;
  SimUser model;
  uint64_t request_id = 0;
  std::array<uint32_t, kPageSize> page{};
  int page_pos = kPageSize;
  std::vector<uint32_t> shown;
  // Primary categories of recent items the user watched through or liked: the feed's
  // in-session signal, which is how it notices drifted tastes at all.
  std::array<uint8_t, 8> engaged{};
  uint32_t engaged_count = 0;
  std::array<PendingEvent, 4> pending{};
  int pending_pos = 0;
  int pending_count = 0;
};

struct PlannedSession {
  int64_t start_ms;
  uint32_t user;
  uint32_t number;
  bool operator<(const PlannedSession& o) const {
    if (start_ms != o.start_ms) return start_ms < o.start_ms;
    if (user != o.user) return user < o.user;
    return number < o.number;
  }
};

struct HeapEntry {
  int64_t time_ms;
  uint64_t uid;
  uint32_t slot;
  // Inverted for std::priority_queue: the earliest (time, uid) comes out first.
  bool operator<(const HeapEntry& o) const {
    return time_ms != o.time_ms ? time_ms > o.time_ms : uid > o.uid;
  }
};

// Runs the whole feed simulation on one thread, writing events as they happen. Not thread-safe.
class Simulator {
 public:
  Simulator(const GeneratorOptions& options, const Catalog& catalog,
            const CategorySampler& categories, std::vector<float> activity, OutputFile* out)
      : options_(options),
        catalog_(catalog),
        categories_(categories),
        activity_(std::move(activity)),
        busy_(options.users, 0),
        drift_ms_(options.drift_day > 0 ? kEpochMs + kMsPerDay * options.drift_day : INT64_MAX),
        out_(out) {}

  void Run() {
    uint32_t next_day = 0;
    size_t plan_pos = 0;
    while (true) {
      const int64_t heap_time = heap_.empty() ? INT64_MAX : heap_.top().time_ms;
      if (plan_pos < plan_.size()) {
        if (plan_[plan_pos].start_ms <= heap_time)
          StartPlanned(plan_[plan_pos++]);
        else
          Step();
        continue;
      }
      if (next_day < options_.days && DayStart(next_day) <= heap_time) {
        PlanDay(next_day++);
        plan_pos = 0;
        continue;
      }
      if (heap_.empty()) break;
      Step();
    }
  }

  uint64_t events() const { return events_; }
  uint64_t impressions() const { return impressions_; }
  uint64_t sessions() const { return next_uid_; }

 private:
  static int64_t DayStart(uint32_t day) { return kEpochMs + kMsPerDay * day; }

  void PlanDay(uint32_t day) {
    plan_.clear();
    double hour_cum[24];
    double total = 0;
    for (int h = 0; h < 24; ++h) hour_cum[h] = (total += kHourWeights[h]);
    // Day 0 is a Tuesday; days 4 and 5 of each week are the weekend, a little busier.
    const double day_factor = (day % 7 == 4 || day % 7 == 5) ? 1.15 : 1.0;
    for (uint32_t u = 0; u < options_.users; ++u) {
      Rng rng(StreamSeed(options_.seed, Stream::kDay, u, day));
      const int count = rng.Poisson(activity_[u] * day_factor, kMaxSessionsPerDay);
      for (int k = 0; k < count; ++k) {
        const double x = rng.Uniform() * total;
        int hour = 0;
        while (hour < 23 && x >= hour_cum[hour]) ++hour;
        const int64_t start = DayStart(day) + hour * kMsPerHour + rng.Below(kMsPerHour);
        plan_.push_back({start, u, static_cast<uint32_t>(k)});
      }
    }
    std::sort(plan_.begin(), plan_.end());
  }

  void StartPlanned(const PlannedSession& planned) {
    uint32_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = static_cast<uint32_t>(sessions_.size());
      sessions_.emplace_back();
    }
    Session& s = sessions_[slot];
    const auto day = static_cast<uint32_t>((planned.start_ms - kEpochMs) / kMsPerDay);
    s.uid = next_uid_++;
    s.user = planned.user;
    s.started = false;
    s.skipped_last = false;
    s.rng = Rng(StreamSeed(options_.seed, Stream::kSession, planned.user, day, planned.number));
    s.page_pos = kPageSize;
    s.shown.clear();
    s.engaged_count = 0;
    s.pending_pos = s.pending_count = 0;
    heap_.push({planned.start_ms, s.uid, slot});
  }

  void Step() {
    const HeapEntry top = heap_.top();
    heap_.pop();
    Session& s = sessions_[top.slot];
    if (!s.started) {
      if (busy_[s.user]) {  // one person, one screen: wait for the running session to end
        heap_.push({top.time_ms + kBusyRetryMs, s.uid, top.slot});
        return;
      }
      busy_[s.user] = 1;
      s.started = true;
      s.model = MakeUser(options_, catalog_, categories_, s.user);
      ShowNextItem(s, top.time_ms);
      heap_.push({s.pending[0].ts_ms, s.uid, top.slot});
      return;
    }
    const PendingEvent& e = s.pending[s.pending_pos++];
    Emit(s, e);
    int64_t last = e.ts_ms;
    if (s.pending_pos == s.pending_count) {
      const double quit = s.model.truth.patience + (s.skipped_last ? 0.05 : 0.0);
      if (s.shown.size() >= kMaxSessionItems || s.rng.Chance(quit)) {
        busy_[s.user] = 0;
        free_slots_.push_back(top.slot);
        return;
      }
      ShowNextItem(s, last + 200 + s.rng.Below(800));
    }
    heap_.push({s.pending[s.pending_pos].ts_ms, s.uid, top.slot});
  }

  bool AlreadyShown(const Session& s, uint32_t item, int page_filled) const {
    if (std::find(s.shown.begin(), s.shown.end(), item) != s.shown.end()) return true;
    return std::find(s.page.begin(), s.page.begin() + page_filled, item) !=
           s.page.begin() + page_filled;
  }

  // One feed slot: popular, fresh, personalised or random; the exposure bias of a real feed.
  uint32_t PickItem(Session& s, int64_t t, uint32_t available) {
    Rng& rng = s.rng;
    const double source = rng.Uniform();
    if (source < kSourcePopular) {
      uint32_t lo = 0;
      if (rng.Chance(0.5)) {  // trending: popular among the last week's uploads
        lo = catalog_.FirstUploadedAtOrAfter(t - kTrendingWindowMs);
        if (lo >= available) lo = 0;
      }
      return SampleWeighted(catalog_.cum_virality, lo, available, rng);
    }
    if (source < kSourcePopular + kSourceFresh) {
      const uint32_t lo = catalog_.FirstUploadedAtOrAfter(t - kFreshWindowMs);
      if (lo < available) return lo + rng.Below(available - lo);
      return rng.Below(available);
    }
    if (source < kSourcePopular + kSourceFresh + kSourcePersonal) {
      const TruthUser& truth = s.model.truth;
      if (truth.creator_count > 0 && rng.Chance(0.25)) {
        const auto& list = catalog_.by_creator[truth.creators[rng.Below(truth.creator_count)]];
        const auto n = static_cast<uint32_t>(std::lower_bound(list.begin(), list.end(), available) -
                                             list.begin());
        if (n > 0) return list[rng.Below(n)];
      }
      int category;
      if (s.engaged_count > 0 && rng.Chance(0.5)) {
        const uint32_t n = std::min<uint32_t>(s.engaged_count, s.engaged.size());
        category = s.engaged[rng.Below(n)];
      } else {
        double x = rng.Uniform();
        int f = 0;
        while (f + 1 < s.model.favorite_count && x >= s.model.favorite_share[f]) {
          x -= s.model.favorite_share[f++];
        }
        category = s.model.favorites[f];
      }
      const CategoryIndex& index = catalog_.by_category[category];
      const auto n = static_cast<uint32_t>(
          std::lower_bound(index.items.begin(), index.items.end(), available) -
          index.items.begin());
      if (n > 0) return index.items[SampleWeighted(index.cum, 0, n, rng)];
    }
    return rng.Below(available);
  }

  void NewRequest(Session& s, int64_t t) {
    s.request_id = ++request_counter_;
    const uint32_t available = catalog_.AvailableAt(t);
    FUNNEL_CHECK(available > 0);  // the back catalog predates every session
    for (int k = 0; k < kPageSize; ++k) {
      uint32_t item = 0;
      for (int attempt = 0; attempt < 5; ++attempt) {
        item = PickItem(s, t, available);
        if (!AlreadyShown(s, item, k)) break;
      }
      s.page[k] = item;
    }
    s.page_pos = 0;
  }

  // Displays the next feed item at time t and draws the user's response to it.
  void ShowNextItem(Session& s, int64_t t) {
    if (s.page_pos == kPageSize) NewRequest(s, t);
    const uint32_t item_index = s.page[s.page_pos++];
    s.shown.push_back(item_index);
    const TruthItem& item = catalog_.items[item_index];
    const TruthUser& user = s.model.truth;
    const double a = TrueAffinity(user, item, t >= drift_ms_);
    Rng& rng = s.rng;
    s.pending_pos = s.pending_count = 0;
    s.pending[s.pending_count++] = {t, item_index, EventType::kImpression, -1};
    if (rng.Chance(Sigmoid(1.5 * a + 0.3 + user.watch_bias))) {
      const double duration = item.duration;
      const double ratio = 1.5 * Sigmoid(a + 0.5 + 0.6 * rng.Normal() - 0.5 * Log(duration / 30.0));
      const auto tenths =
          static_cast<int32_t>(std::max<long>(20, std::lround(ratio * duration * 10)));
      const bool like = rng.Chance(Sigmoid(1.8 * a - 4.5 + user.like_bias));
      const bool share = rng.Chance(Sigmoid(1.5 * a - 6.0));
      const int64_t end = t + int64_t{tenths} * 100;
      if (like) {
        const auto at = t + static_cast<int64_t>(rng.Uniform() * tenths * 100);
        s.pending[s.pending_count++] = {at, item_index, EventType::kLike, -1};
      }
      s.pending[s.pending_count++] = {end, item_index, EventType::kWatch, tenths};
      if (share) {
        s.pending[s.pending_count++] = {end + 1000 + rng.Below(2000), item_index, EventType::kShare,
                                        -1};
      }
      if (like || ratio >= 0.6)
        s.engaged[s.engaged_count++ % s.engaged.size()] = item.categories[0];
      s.skipped_last = false;
    } else {
      const auto tenths = static_cast<int32_t>(2 + rng.Below(18));  // 0.2-1.9 s
      s.pending[s.pending_count++] = {t + int64_t{tenths} * 100, item_index, EventType::kSkip,
                                      tenths};
      s.skipped_last = true;
    }
  }

  void Emit(const Session& s, const PendingEvent& e) {
    JsonWriter& w = out_->line();
    w.StartObject().Key("user").String(Id("u", s.user + 1).view());
    w.Key("item").String(Id("v", e.item + 1).view());
    w.Key("type").String(kEventTypeNames[static_cast<int>(e.type)]);
    w.Key("ts").Fixed(e.ts_ms, 3);
    if (e.value_tenths >= 0) w.Key("value").Fixed(e.value_tenths, 1);
    w.Key("id").String(Id("e-", ++events_).view()).Key("request_id").String(Id("r-", s.request_id).view());
    if (e.type == EventType::kImpression) {
      ++impressions_;
      w.Key("context").StartObject().Key("device").String(kDevices[s.model.truth.device]).EndObject();
    }
    w.EndObject();
    out_->EndLine();
  }

  const GeneratorOptions& options_;
  const Catalog& catalog_;
  const CategorySampler& categories_;
  const std::vector<float> activity_;
  std::vector<uint8_t> busy_;  // 1 while the user is in a session
  const int64_t drift_ms_;
  OutputFile* out_;

  std::vector<PlannedSession> plan_;  // the current day's session starts, sorted
  std::vector<Session> sessions_;     // slots; bounded by concurrent sessions
  std::vector<uint32_t> free_slots_;
  std::priority_queue<HeapEntry> heap_;
  uint64_t next_uid_ = 0;
  uint64_t request_counter_ = 0;
  uint64_t events_ = 0;
  uint64_t impressions_ = 0;
};

Status RenameInto(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", from, " to ", to, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

Status ValidateGeneratorOptions(const GeneratorOptions& options) {
  if (options.users < 1 || options.users > kMaxUsers) {
    return absl::InvalidArgumentError(
        absl::StrCat("users must be between 1 and ", kMaxUsers, ", got ", options.users));
  }
  if (options.items < 1 || options.items > kMaxItems) {
    return absl::InvalidArgumentError(
        absl::StrCat("items must be between 1 and ", kMaxItems, ", got ", options.items));
  }
  if (options.days < 1 || options.days > kMaxDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("days must be between 1 and ", kMaxDays, ", got ", options.days));
  }
  if (options.drift_day >= options.days) {
    return absl::InvalidArgumentError(absl::StrCat(
        "drift day must be 0 (no drift) or between 1 and days - 1 = ", options.days - 1, ", got ",
        options.drift_day));
  }
  if (options.out_dir.empty()) {
    return absl::InvalidArgumentError("an output directory is required");
  }
  return absl::OkStatus();
}

StatusOr<GeneratorSummary> GeneratePlatform(const GeneratorOptions& options) {
  FUNNEL_RETURN_IF_ERROR(ValidateGeneratorOptions(options));
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec || !fs::is_directory(options.out_dir)) {
    return absl::UnavailableError(
        absl::StrCat("cannot create output directory ", options.out_dir, ": ",
                     ec ? ec.message() : std::string("a file with that name exists")));
  }
  const fs::path dir(options.out_dir);
  const std::string items_path = (dir / "items.jsonl").string();
  const std::string events_path = (dir / "events.jsonl").string();
  const std::string truth_path = (dir / "truth.jsonl").string();
  const std::string tmp = ".tmp";

  auto run = [&]() -> StatusOr<GeneratorSummary> {
    const CategorySampler categories;
    const Catalog catalog = BuildCatalog(options, categories);
    FUNNEL_RETURN_IF_ERROR(WriteItems(catalog, items_path + tmp));
    GeneratorSummary summary;
    FUNNEL_ASSIGN_OR_RETURN(
        std::vector<float> activity,
        WriteTruth(options, catalog, categories, truth_path + tmp, &summary.drifted_users));
    OutputFile events;
    FUNNEL_RETURN_IF_ERROR(events.Open(events_path + tmp, /*checksum=*/false));
    Simulator sim(options, catalog, categories, std::move(activity), &events);
    sim.Run();
    FUNNEL_RETURN_IF_ERROR(events.Close());
    FUNNEL_RETURN_IF_ERROR(RenameInto(items_path + tmp, items_path));
    FUNNEL_RETURN_IF_ERROR(RenameInto(truth_path + tmp, truth_path));
    FUNNEL_RETURN_IF_ERROR(RenameInto(events_path + tmp, events_path));
    summary.users = options.users;
    summary.items = options.items;
    summary.events = sim.events();
    summary.impressions = sim.impressions();
    summary.sessions = sim.sessions();
    return summary;
  };
  StatusOr<GeneratorSummary> result = run();
  if (!result.ok()) {
    for (const std::string* path : {&items_path, &truth_path, &events_path}) {
      fs::remove(*path + tmp, ec);  // best effort: never leave half-written files behind
    }
  }
  return result;
}

}  // namespace funnel::events
