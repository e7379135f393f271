// The generator's ground truth: the affinity formula and the truth.jsonl reader
// (docs/formats/generator-truth.md).
#include "funnel/events/generator.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <simdjson.h>
#include <xxhash.h>

namespace funnel::events {

double TrueAffinity(const TruthUser& user, const TruthItem& item, bool after_drift) {
  const auto& taste = after_drift && user.drifted ? user.drift_taste : user.taste;
  double category = 0;
  for (int k = 0; k < item.category_count; ++k) category += taste[item.categories[k]];
  if (item.category_count > 0) category /= item.category_count;
  double latent = 0;
  for (int d = 0; d < kGeneratorLatentDim; ++d) {
    latent += static_cast<double>(user.latent[d]) * static_cast<double>(item.latent[d]);
  }
  double creator = 0;
  for (int k = 0; k < user.creator_count; ++k) {
    if (user.creators[k] == item.creator) creator = 1;
  }
  return kAffinityCategoryWeight * category + kAffinityLatentWeight * latent +
         kAffinityCreatorWeight * creator + kAffinityQualityWeight * item.quality;
}

namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kFormat = "funnel-generator-truth";
constexpr int kVersion = 1;
constexpr std::string_view kDevices[] = {"ios", "android", "web"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// Numbers are read from their JSON text with from_chars, so a float is exactly the one the
// generator printed (shortest round-trip form) and affinities match the generator's bit for bit.
template <typename T>
bool ReadNumber(od::value value, T* out) {
  const std::string_view token = Trim(value.raw_json_token());
  const char* end = token.data() + token.size();
  auto [ptr, ec] = std::from_chars(token.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

bool ReadFloats(od::value value, std::span<float> out) {
  od::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) return false;
  size_t n = 0;
  for (auto element : array) {
    od::value v;
    if (element.get(v) != simdjson::SUCCESS || n >= out.size() || !ReadNumber(v, &out[n])) {
      return false;
    }
    ++n;
  }
  return n == out.size();
}

bool ReadString(od::value value, std::string_view* out) {
  return value.get_string().get(*out) == simdjson::SUCCESS;
}

// "c12" -> creator index 11.
bool ReadCreator(od::value value, uint32_t creators, uint32_t* out) {
  std::string_view s;
  if (!ReadString(value, &s) || s.size() < 2 || s[0] != 'c') return false;
  uint32_t n = 0;
  auto [ptr, ec] = std::from_chars(s.data() + 1, s.data() + s.size(), n);
  if (ec != std::errc() || ptr != s.data() + s.size() || n < 1 || n > creators) return false;
  *out = n - 1;
  return true;
}

struct Header {
  uint64_t seed = 0;
  uint64_t users = 0, items = 0, creators = 0, days = 0, drift_day = 0;
  std::optional<int64_t> drift_ts;
};

// Reads truth.jsonl line by line; each Parse* returns an error naming the field.
class TruthReader {
 public:
  explicit TruthReader(std::string path) : path_(std::move(path)) {}

  Status Error(std::string_view what) const {
    return absl::DataLossError(fmt::format("{} line {}: {}", path_, line_no_, what));
  }
  Status FieldError(std::string_view key, std::string_view what) const {
    return Error(fmt::format("field \"{}\": {}", key, what));
  }

  Status Open() {
    in_.open(path_, std::ios::binary);
    if (!in_) {
      return absl::NotFoundError(
          fmt::format("cannot open {}: {} (was it written by `funnel generate`?)", path_,
                      std::strerror(errno)));
    }
    hash_.reset(XXH3_createState());
    FUNNEL_CHECK(hash_ != nullptr);
    XXH3_64bits_reset(hash_.get());
    return absl::OkStatus();
  }

  // Reads the next line into an object; at_eof reports a clean end of file instead.
  Status Next(od::object* object, bool hash, bool* at_eof = nullptr) {
    if (!std::getline(in_, line_)) {
      if (at_eof != nullptr) {
        *at_eof = true;
        return absl::OkStatus();
      }
      return absl::DataLossError(fmt::format(
          "{}: ends after line {} without its end record (truncated?)", path_, line_no_));
    }
    ++line_no_;
    if (hash) {
      XXH3_64bits_update(hash_.get(), line_.data(), line_.size());
      XXH3_64bits_update(hash_.get(), "\n", 1);
    }
    line_.reserve(line_.size() + simdjson::SIMDJSON_PADDING);
    const simdjson::padded_string_view view(line_.data(), line_.size(), line_.capacity());
    if (parser_.iterate(view).get(doc_) != simdjson::SUCCESS ||
        doc_.get_object().get(*object) != simdjson::SUCCESS) {
      return Error("not a JSON object");
    }
    return absl::OkStatus();
  }

  uint64_t line_no() const { return line_no_; }
  uint64_t Checksum() const { return XXH3_64bits_digest(hash_.get()); }

 private:
  struct FreeHash {
    void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
  };
  std::string path_;
  std::ifstream in_;
  std::string line_;
  uint64_t line_no_ = 0;
  od::parser parser_;
  od::document doc_;
  std::unique_ptr<XXH3_state_t, FreeHash> hash_;
};

// Iterates an object's fields, calling on_field(key, value) -> Status.
template <typename F>
Status ForEachField(const TruthReader& reader, od::object& object, F&& on_field) {
  for (auto result : object) {
    od::field field;
    std::string_view key;
    if (std::move(result).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return reader.Error("malformed JSON");
    }
    FUNNEL_RETURN_IF_ERROR(on_field(key, field.value()));
  }
  return absl::OkStatus();
}

Status ParseHeader(TruthReader& reader, Header* header) {
  od::object object;
  FUNNEL_RETURN_IF_ERROR(reader.Next(&object, /*hash=*/true));
  bool format_ok = false;
  uint64_t version = 0, latent_dim = 0;
  size_t categories = 0;
  Status status = ForEachField(reader, object, [&](std::string_view key, od::value v) -> Status {
    auto number = [&](uint64_t* out) {
      return ReadNumber(v, out) ? absl::OkStatus() : reader.FieldError(key, "expected a count");
    };
    if (key == "format") {
      std::string_view s;
      format_ok = ReadString(v, &s) && s == kFormat;
    } else if (key == "version") {
      return number(&version);
    } else if (key == "seed") {
      return number(&header->seed);
    } else if (key == "users") {
      return number(&header->users);
    } else if (key == "items") {
      return number(&header->items);
    } else if (key == "creators") {
      return number(&header->creators);
    } else if (key == "days") {
      return number(&header->days);
    } else if (key == "drift_day") {
      return number(&header->drift_day);
    } else if (key == "latent_dim") {
      return number(&latent_dim);
    } else if (key == "drift_ts") {
      bool is_null = false;
      if (v.is_null().get(is_null) == simdjson::SUCCESS && is_null) return absl::OkStatus();
      int64_t ts = 0;
      if (!ReadNumber(v, &ts)) return reader.FieldError(key, "expected seconds or null");
      header->drift_ts = ts;
    } else if (key == "categories") {
      od::array array;
      if (v.get_array().get(array) != simdjson::SUCCESS)
        return reader.FieldError(key, "expected an array");
      for (auto element : array) {
        std::string_view name;
        if (element.get_string().get(name) != simdjson::SUCCESS ||
            categories >= kGeneratorCategories || name != kGeneratorCategoryNames[categories]) {
          return reader.FieldError(key, "differs from this build's categories");
        }
        ++categories;
      }
    }
    return absl::OkStatus();
  });
  FUNNEL_RETURN_IF_ERROR(status);
  if (!format_ok)
    return reader.Error(fmt::format("not a generator truth file (format is not \"{}\")", kFormat));
  if (version != kVersion) {
    return reader.Error(
        fmt::format("unsupported version {}; this build reads version {}", version, kVersion));
  }
  if (latent_dim != kGeneratorLatentDim || categories != kGeneratorCategories) {
    return reader.Error("latent_dim or categories differ from this build's generator");
  }
  if (header->users > UINT32_MAX || header->items > UINT32_MAX || header->creators > UINT32_MAX) {
    return reader.Error("too many users, items or creators");
  }
  if (header->drift_day > 0 && !header->drift_ts.has_value()) {
    return reader.Error("drift_day is set but drift_ts is null");
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<UserIdx> GroundTruth::FindUser(std::string_view id) const {
  auto u = user_ids_.Find(id);
  if (!u) return std::nullopt;
  return UserIdx{*u};
}

std::optional<ItemIdx> GroundTruth::FindItem(std::string_view id) const {
  auto i = item_ids_.Find(id);
  if (!i) return std::nullopt;
  return ItemIdx{*i};
}

double GroundTruth::Affinity(UserIdx user, ItemIdx item, Timestamp t) const {
  const bool after_drift = drift_time_.has_value() && t >= *drift_time_;
  return TrueAffinity(users_[Raw(user)], items_[Raw(item)], after_drift);
}

std::optional<double> GroundTruth::Affinity(std::string_view user, std::string_view item,
                                            Timestamp t) const {
  const auto u = FindUser(user);
  const auto i = FindItem(item);
  if (!u || !i) return std::nullopt;
  return Affinity(*u, *i, t);
}

std::vector<ItemIdx> GroundTruth::TopItems(UserIdx user, Timestamp t, size_t k) const {
  std::vector<std::pair<double, uint32_t>> scored;
  scored.reserve(items_.size());
  for (uint32_t i = 0; i < items_.size(); ++i) {
    if (items_[i].uploaded <= t) scored.emplace_back(-Affinity(user, ItemIdx{i}, t), i);
  }
  k = std::min(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<ptrdiff_t>(k), scored.end());
  std::vector<ItemIdx> top;
  top.reserve(k);
  for (size_t r = 0; r < k; ++r) top.push_back(ItemIdx{scored[r].second});
  return top;
}

StatusOr<GroundTruth> GroundTruth::Load(const std::string& dir) {
  TruthReader reader(dir + "/truth.jsonl");
  FUNNEL_RETURN_IF_ERROR(reader.Open());
  Header header;
  FUNNEL_RETURN_IF_ERROR(ParseHeader(reader, &header));

  GroundTruth truth;
  truth.seed_ = header.seed;
  truth.days_ = static_cast<uint32_t>(header.days);
  truth.drift_day_ = static_cast<uint32_t>(header.drift_day);
  if (header.drift_day > 0) truth.drift_time_ = Timestamp::FromMicros(*header.drift_ts * 1'000'000);
  truth.items_.reserve(header.items);
  truth.users_.reserve(header.users);
  const auto creators = static_cast<uint32_t>(header.creators);

  for (uint64_t n = 0; n < header.items; ++n) {
    od::object object;
    FUNNEL_RETURN_IF_ERROR(reader.Next(&object, /*hash=*/true));
    TruthItem item;
    std::string_view id;
    int seen = 0;
    Status status = ForEachField(reader, object, [&](std::string_view key, od::value v) -> Status {
      bool ok = true;
      if (key == "item") {
        ok = ReadString(v, &id) && !id.empty();
        if (ok) {
          bool added = false;
          truth.item_ids_.Intern(id, &added);
          if (!added) return reader.FieldError(key, "duplicate item id");
        }
        seen |= 1;
      } else if (key == "ts") {
        int64_t ts = 0;
        ok = ReadNumber(v, &ts);
        item.uploaded = Timestamp::FromMicros(ts * 1'000'000);
        seen |= 2;
      } else if (key == "creator") {
        ok = ReadCreator(v, creators, &item.creator);
        seen |= 4;
      } else if (key == "categories") {
        od::array array;
        ok = v.get_array().get(array) == simdjson::SUCCESS;
        for (auto element : array) {
          uint64_t c = 0;
          if (!ok || element.get_uint64().get(c) != simdjson::SUCCESS ||
              c >= kGeneratorCategories || item.category_count >= item.categories.size()) {
            ok = false;
            break;
          }
          item.categories[item.category_count++] = static_cast<uint8_t>(c);
        }
        ok = ok && item.category_count > 0;
        seen |= 8;
      } else if (key == "duration") {
        ok = ReadNumber(v, &item.duration);
        seen |= 16;
      } else if (key == "quality") {
        ok = ReadNumber(v, &item.quality);
        seen |= 32;
      } else if (key == "virality") {
        ok = ReadNumber(v, &item.virality);
        seen |= 64;
      } else if (key == "latent") {
        ok = ReadFloats(v, item.latent);
        seen |= 128;
      }
      return ok ? absl::OkStatus() : reader.FieldError(key, "missing or malformed");
    });
    FUNNEL_RETURN_IF_ERROR(status);
    if (seen != 255)
      return reader.Error(
          "an item record needs item, ts, creator, categories, duration, quality, virality and "
          "latent");
    truth.items_.push_back(item);
  }

  for (uint64_t n = 0; n < header.users; ++n) {
    od::object object;
    FUNNEL_RETURN_IF_ERROR(reader.Next(&object, /*hash=*/true));
    TruthUser user;
    int seen = 0;
    Status status = ForEachField(reader, object, [&](std::string_view key, od::value v) -> Status {
      bool ok = true;
      if (key == "user") {
        std::string_view id;
        ok = ReadString(v, &id) && !id.empty();
        if (ok) {
          bool added = false;
          truth.user_ids_.Intern(id, &added);
          if (!added) return reader.FieldError(key, "duplicate user id");
        }
        seen |= 1;
      } else if (key == "device") {
        std::string_view device;
        ok = ReadString(v, &device);
        auto it = std::find(std::begin(kDevices), std::end(kDevices), device);
        ok = ok && it != std::end(kDevices);
        user.device = static_cast<uint8_t>(it - std::begin(kDevices));
        seen |= 2;
      } else if (key == "activity") {
        ok = ReadNumber(v, &user.activity);
        seen |= 4;
      } else if (key == "patience") {
        ok = ReadNumber(v, &user.patience);
        seen |= 8;
      } else if (key == "watch_bias") {
        ok = ReadNumber(v, &user.watch_bias);
        seen |= 16;
      } else if (key == "like_bias") {
        ok = ReadNumber(v, &user.like_bias);
        seen |= 32;
      } else if (key == "taste") {
        ok = ReadFloats(v, user.taste);
        seen |= 64;
      } else if (key == "latent") {
        ok = ReadFloats(v, user.latent);
        seen |= 128;
      } else if (key == "creators") {
        od::array array;
        ok = v.get_array().get(array) == simdjson::SUCCESS;
        for (auto element : array) {
          od::value value;
          uint32_t creator = 0;
          if (!ok || element.get(value) != simdjson::SUCCESS ||
              user.creator_count >= kGeneratorMaxFavoriteCreators ||
              !ReadCreator(value, creators, &creator)) {
            ok = false;
            break;
          }
          user.creators[user.creator_count++] = creator;
        }
        seen |= 256;
      } else if (key == "drift_taste") {
        ok = ReadFloats(v, user.drift_taste);
        user.drifted = ok;
      }
      return ok ? absl::OkStatus() : reader.FieldError(key, "missing or malformed");
    });
    FUNNEL_RETURN_IF_ERROR(status);
    if (seen != 511)
      return reader.Error(
          "a user record needs user, device, activity, patience, watch_bias, like_bias, taste, "
          "latent and creators");
    if (user.drifted && header.drift_day == 0)
      return reader.Error("drift_taste in a run without drift");
    truth.users_.push_back(user);
  }

  // The end record: how many lines precede it and their XXH3-64, so a torn or edited file is
  // caught here rather than skewing an evaluation.
  const uint64_t expected_checksum = reader.Checksum();
  const uint64_t lines = reader.line_no();
  od::object object;
  FUNNEL_RETURN_IF_ERROR(reader.Next(&object, /*hash=*/false));
  bool end_ok = false;
  Status status = ForEachField(reader, object, [&](std::string_view key, od::value v) -> Status {
    if (key != "end") return absl::OkStatus();
    od::object end;
    if (v.get_object().get(end) != simdjson::SUCCESS)
      return reader.FieldError(key, "expected an object");
    uint64_t declared_lines = 0;
    std::string_view declared_hash;
    FUNNEL_RETURN_IF_ERROR(
        ForEachField(reader, end, [&](std::string_view k, od::value x) -> Status {
          if (k == "lines" && !ReadNumber(x, &declared_lines))
            return reader.FieldError(k, "expected a count");
          if (k == "xxh3" && !ReadString(x, &declared_hash))
            return reader.FieldError(k, "expected hex");
          return absl::OkStatus();
        }));
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(expected_checksum));
    if (declared_lines != lines) {
      return reader.Error(
          fmt::format("end record counts {} lines, found {}", declared_lines, lines));
    }
    if (declared_hash != hex) {
      return reader.Error(fmt::format(
          "checksum mismatch: end record says {}, content hashes to {} (file damaged or edited)",
          declared_hash, hex));
    }
    end_ok = true;
    return absl::OkStatus();
  });
  FUNNEL_RETURN_IF_ERROR(status);
  if (!end_ok) return reader.Error("expected the end record");
  bool at_eof = false;
  od::object extra;
  FUNNEL_RETURN_IF_ERROR(reader.Next(&extra, /*hash=*/false, &at_eof));
  if (!at_eof) return reader.Error("data after the end record");
  return truth;
}

}  // namespace funnel::events
