#include "funnel/features/feature_fold.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include <simdjson.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "features/record_codec.h"
#include "funnel/core/hash.h"

namespace funnel::features {

namespace {

constexpr int kWindowBuckets = 12;
constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMaxWatchRatio = 5.0;  // a looped short video: cap so one binge can't dominate
constexpr size_t kNumKinds = 5;
constexpr uint8_t kRecordVersion = 1;
constexpr uint32_t kNoRow = UINT32_MAX;

size_t KindOf(Entity e) { return static_cast<size_t>(e); }

// One key letter per entity kind (docs/formats/online-features.md).
constexpr char kKeyLetter[kNumKinds] = {'u', 'i', 'c', 'r', 'g'};

double CategoryCode(std::string_view s) { return CategoricalCode(s); }

// The value of `key` in an attribute object (minified JSON text), parsed with `parser`.
std::optional<simdjson::dom::element> AttributeOf(simdjson::dom::parser& parser, const std::string& json,
                                                  std::string_view key) {
  if (json.empty()) return std::nullopt;
  simdjson::dom::element root, v;
  if (parser.parse(json).get(root) || root[key].get(v)) return std::nullopt;
  return v;
}

std::string CrossRecordKey(char letter, std::string_view user, std::string_view other) {
  std::string key(1, letter);
  codec::PutStr(key, user);
  key.append(other);
  return key;
}

// A streaming aggregate compiled from its spec: where it lives in its entity's row.
struct Slot {
  int spec = 0;
  Aggregation agg = Aggregation::kCount;
  ValueMode value = ValueMode::kOne;
  int decay = -1;       // index into the kind's distinct half-lives, or -1
  double bucket_seconds = 0;  // > 0 for windowed slots
  int offset = 0;       // first double of the slot in the row
  int components = 1;   // 2 for mean (weighted sum, weight)
  int width() const { return components * (bucket_seconds > 0 ? kWindowBuckets : 1); }
};

// All rows of one entity kind: a row is `stride` doubles plus the time of its last update.
struct Kind {
  std::vector<Slot> slots;
  std::vector<double> half_lives;
  int stride = 0;
  std::vector<double> init;  // a fresh row
  std::vector<double> values;
  std::vector<int64_t> updated;  // per row, kNever when the row was never touched
  absl::flat_hash_map<uint64_t, uint32_t> index;  // cross kinds: (user << 32 | other) -> row
  std::vector<uint64_t> row_keys;                 // cross kinds: row -> (user << 32 | other)
  std::vector<uint8_t> dirty;                     // per row: changed since the last drain
  std::vector<uint32_t> dirty_rows;

  size_t rows() const { return updated.size(); }
  uint32_t AddRow() {
    values.insert(values.end(), init.begin(), init.end());
    updated.push_back(kNever);
    dirty.push_back(0);
    return static_cast<uint32_t>(updated.size() - 1);
  }
  void MarkDirty(uint32_t row) {
    if (dirty[row]) return;
    dirty[row] = 1;
    dirty_rows.push_back(row);
  }
  void ClearRows() {
    values.clear();
    updated.clear();
    index.clear();
    row_keys.clear();
    dirty.clear();
    dirty_rows.clear();
  }
};

struct ItemMeta {
  bool known = false;  // metadata was upserted or restored
  int64_t uploaded_us = kNever;
  double duration = kNaN;
  std::vector<uint32_t> categories;
  int64_t creator = -1;
  double category_code = kNaN, creator_code = kNaN;
  std::vector<double> attributes;  // one per item.attribute.<key> static feature
};

// last_n state: a ring of the newest ids per entity.
struct LastN {
  int spec = 0;
  int n = 0;
  Entity entity = Entity::kUser;
  std::vector<std::vector<uint32_t>> rings;  // per entity row, newest last (ring via head)
  std::vector<uint32_t> heads;

  // Oldest first.
  std::vector<uint32_t> InOrder(uint32_t row) const {
    std::vector<uint32_t> out;
    if (row >= rings.size()) return out;
    const auto& ring = rings[row];
    for (size_t j = 0; j < ring.size(); ++j) out.push_back(ring[(heads[row] + j) % ring.size()]);
    return out;
  }
};

// What a static feature reads.
enum class StaticKind { kItemAge, kItemDuration, kItemCategory, kItemCreator, kItemAttribute, kUserAttribute };

std::string_view AggregationName(Aggregation a) {
  constexpr std::string_view kNames[] = {"count", "sum", "mean", "last", "time_since", "last_n", "ratio", "static"};
  return kNames[static_cast<size_t>(a)];
}

uint64_t ComputeLayoutHash(const std::vector<FeatureSpec>& specs) {
  std::string canon = Cat("funnel-fold-records/", int{kRecordVersion}, "\n");
  for (const FeatureSpec& f : specs) {
    canon += Cat(f.name, "|", EntityName(f.entity), "|", AggregationName(f.aggregation), "|");
    for (const auto& [type, w] : f.types) canon += Cat(type, "=", w, ";");
    canon += Cat("|", static_cast<int>(f.value), "|", f.half_life_seconds, "|", f.window_seconds, "|",
                 f.last_n, "|", f.numerator, "|", f.denominator, "|", f.prior_mean, "|", f.prior_weight,
                 "|", static_cast<int>(f.combine), "|", f.source, "\n");
  }
  return StableHash64(canon);
}

class FeatureFoldImpl final : public FeatureFold {
 public:
  FeatureFoldImpl(std::vector<FeatureSpec> specs, const store::EventStore* store)
      : specs_(std::move(specs)), store_(store) {}

  Status Init() {
    layout_hash_ = ComputeLayoutHash(specs_);
    for (size_t i = 0; i < specs_.size(); ++i) {
      const FeatureSpec& f = specs_[i];
      spec_index_[f.name] = static_cast<int>(i);
      if (f.aggregation == Aggregation::kLastN) {
        last_n_.push_back({static_cast<int>(i), f.last_n, f.entity, {}, {}});
        continue;
      }
      names_.push_back(f.name);
      outputs_.push_back(static_cast<int>(i));
      if (f.aggregation == Aggregation::kRatio) continue;
      if (f.aggregation == Aggregation::kStatic) {
        CompileStatic(static_cast<int>(i));
        continue;
      }
      CompileSlot(static_cast<int>(i));
    }
    global_row_ = kinds_[KindOf(Entity::kGlobal)].AddRow();
    PlanCompute();
    if (store_ == nullptr) return absl::OkStatus();
    // Upserts, so that the first drain also hands out the metadata readers need.
    FUNNEL_RETURN_IF_ERROR(store_->ForEachItem([&](ItemIdx idx, const events::Item& it) {
      UpsertItem(idx, it);
      return true;
    }));
    return store_->ForEachUser([&](UserIdx idx, const events::User& u) {
      UpsertUser(idx, u);
      return true;
    });
  }

  void Apply(const store::StoredEvent& e) override { ApplyTo(e, true, true); }

  // Rows never read one another: an event changes only its user's, its item's, the user's
  // cross rows for the item's categories and creator, and the global row, each from that row's
  // own value and the event. Leaving some of them out therefore changes no other row.
  void ApplyTo(const store::StoredEvent& e, bool user_rows, bool item_rows) override {
    FUNNEL_CHECK(store_ != nullptr);
    const auto& by_kind = SlotsForType(e.type);
    int64_t t = e.ts.micros();
    const ItemMeta* meta = Raw(e.item) < items_.size() ? &items_[Raw(e.item)] : nullptr;
    for (size_t k = 0; k < kNumKinds; ++k) {
      const auto& matches = by_kind[k];
      if (matches.empty()) continue;
      const auto entity = static_cast<Entity>(k);
      if (!user_rows && (entity == Entity::kUser || entity == Entity::kUserCategory || entity == Entity::kUserCreator))
        continue;
      if (!item_rows && entity == Entity::kItem) continue;
      Kind& kind = kinds_[k];
      auto fold_into = [&](uint32_t row) {
        Advance(kind, row, t);
        for (const auto& [slot_index, weight] : matches) AddEvent(kind, row, kind.slots[slot_index], weight, e, meta);
        kind.MarkDirty(row);
      };
      switch (static_cast<Entity>(k)) {
        case Entity::kUser: fold_into(DenseRow(kind, Raw(e.user))); break;
        case Entity::kItem: fold_into(DenseRow(kind, Raw(e.item))); break;
        case Entity::kGlobal: fold_into(global_row_); break;
        case Entity::kUserCategory:
          if (meta)
            for (uint32_t c : meta->categories) fold_into(CrossRow(kind, Raw(e.user), c, true));
          break;
        case Entity::kUserCreator:
          if (meta && meta->creator >= 0) fold_into(CrossRow(kind, Raw(e.user), uint32_t(meta->creator), true));
          break;
      }
    }
    for (LastN& l : last_n_) {
      const FeatureSpec& f = specs_[l.spec];
      if (!f.types.contains(TypeNameCached(e.type))) continue;
      bool by_user = l.entity == Entity::kUser;
      if (!(by_user ? user_rows : item_rows)) continue;
      uint32_t row = by_user ? Raw(e.user) : Raw(e.item);
      Push(l, row, by_user ? Raw(e.item) : Raw(e.user));
      Kind& owner = kinds_[KindOf(by_user ? Entity::kUser : Entity::kItem)];
      owner.MarkDirty(DenseRow(owner, row));
    }
  }

  bool UpsertItem(ItemIdx idx, const events::Item& it) override {
    ItemMeta before = Raw(idx) < items_.size() ? items_[Raw(idx)] : ItemMeta{};
    SetItemMeta(idx, it);
    Kind& kind = kinds_[KindOf(Entity::kItem)];
    kind.MarkDirty(DenseRow(kind, Raw(idx)));
    const ItemMeta& after = items_[Raw(idx)];
    const bool same_duration = std::memcmp(&before.duration, &after.duration, sizeof(double)) == 0;
    return before.categories != after.categories || before.creator != after.creator || !same_duration;
  }

  void UpsertUser(UserIdx idx, const events::User& u) override {
    if (user_attribute_keys_.empty()) return;
    SetUserAttributes(idx, u);
    Kind& kind = kinds_[KindOf(Entity::kUser)];
    kind.MarkDirty(DenseRow(kind, Raw(idx)));
  }

  const std::vector<std::string>& names() const override { return names_; }

  bool HasGlobalState() const override { return !kinds_[KindOf(Entity::kGlobal)].slots.empty(); }
  bool HasItemState() const override {
    if (!kinds_[KindOf(Entity::kItem)].slots.empty()) return true;
    return std::any_of(last_n_.begin(), last_n_.end(), [](const LastN& l) { return l.entity == Entity::kItem; });
  }

  // Reads each entity row once per call: the user x category rows of the item's categories are
  // looked up once, and a row's decay factor for a half-life is computed once and shared by every
  // feature of that half-life (the same exp2 of the same argument, so the values are the
  // reference's bit for bit); ratios reuse their parts' values instead of recomputing them.
  void Compute(UserIdx user, ItemIdx item, Timestamp t, std::span<float> out) const override {
    FUNNEL_CHECK(out.size() == outputs_.size());
    if (!planned_) {
      ComputeReference(user, item, t, out);
      return;
    }
    const int64_t tu = t.micros();
    const ItemMeta* meta = Raw(item) < items_.size() ? &items_[Raw(item)] : nullptr;
    const Kind& cat_kind = kinds_[KindOf(Entity::kUserCategory)];
    const Kind& creator_kind = kinds_[KindOf(Entity::kUserCreator)];
    absl::InlinedVector<uint32_t, 8> cat_rows;
    if (meta && !cat_kind.slots.empty())
      for (uint32_t c : meta->categories) cat_rows.push_back(FindCrossRow(cat_kind, Raw(user), c));
    uint32_t creator_row = kNoRow;
    if (meta && meta->creator >= 0 && !creator_kind.slots.empty())
      creator_row = FindCrossRow(creator_kind, Raw(user), uint32_t(meta->creator));

    // Decay factors, NaN until computed: one run of the kind's half-lives per row read
    // (user, item, global, user x creator, then one run per category row).
    std::array<size_t, kNumKinds> base{};
    size_t cache_size = 0;
    for (size_t k = 0; k < kNumKinds; ++k) {
      base[k] = cache_size;
      size_t rows = k == KindOf(Entity::kUserCategory) ? cat_rows.size() : 1;
      cache_size += rows * kinds_[k].half_lives.size();
    }
    absl::InlinedVector<double, 48> factors(cache_size, kNaN);
    absl::InlinedVector<double, 64> values(specs_.size(), kNaN);

    for (const Planned& p : plan_) {
      double v = kNaN;
      if (p.source == Planned::kStatic) {
        v = StaticValue(p.static_kind, p.arg, user, item, tu);
      } else if (p.source == Planned::kAggregate) {
        const Kind& kind = kinds_[p.kind];
        const Slot& slot = kind.slots[p.slot];
        double* cache = factors.data() + base[p.kind];
        switch (p.entity) {
          case Entity::kUser: v = Read(kind, Raw(user), slot, tu, cache); break;
          case Entity::kItem: v = Read(kind, Raw(item), slot, tu, cache); break;
          case Entity::kGlobal: v = Read(kind, global_row_, slot, tu, cache); break;
          case Entity::kUserCreator: v = Read(kind, creator_row, slot, tu, cache); break;
          case Entity::kUserCategory: {
            const Combine combine = specs_[p.spec].combine;
            double acc = kNaN;
            int n = 0;
            for (size_t j = 0; j < cat_rows.size(); ++j) {
              double x = Read(kind, cat_rows[j], slot, tu, cache + j * kind.half_lives.size());
              if (std::isnan(x)) continue;
              if (n == 0) acc = x;
              else if (combine == Combine::kMax) acc = std::max(acc, x);
              else if (combine == Combine::kMin) acc = std::min(acc, x);
              else acc += x;
              ++n;
            }
            if (n == 0) v = Read(kind, kNoRow, slot, tu, nullptr);
            else v = combine == Combine::kMean ? acc / n : acc;
            break;
          }
        }
      } else {
        const FeatureSpec& f = specs_[p.spec];
        v = RatioOf(f, values[p.numerator], values[p.denominator]);
      }
      values[p.spec] = v;
    }
    for (size_t i = 0; i < outputs_.size(); ++i) out[i] = static_cast<float>(values[outputs_[i]]);
  }

  void ComputeReference(UserIdx user, ItemIdx item, Timestamp t, std::span<float> out) const override {
    FUNNEL_CHECK(out.size() == outputs_.size());
    for (size_t i = 0; i < outputs_.size(); ++i)
      out[i] = static_cast<float>(Value(outputs_[i], user, item, t.micros()));
  }

  std::vector<ItemIdx> LastItems(UserIdx user, std::string_view feature) const override {
    std::vector<ItemIdx> out;
    for (const LastN& l : last_n_) {
      if (specs_[l.spec].name != feature) continue;
      std::vector<uint32_t> ids = l.InOrder(Raw(user));
      for (auto it = ids.rbegin(); it != ids.rend(); ++it) out.push_back(ItemIdx{*it});  // newest first
    }
    return out;
  }

  std::vector<std::string> LastNFeatures() const override {
    std::vector<std::string> out;
    for (const auto& l : last_n_) out.push_back(specs_[l.spec].name);
    return out;
  }

  size_t StateBytes() const override {
    size_t bytes = 0;
    for (const Kind& k : kinds_)
      bytes += k.values.capacity() * sizeof(double) + k.updated.capacity() * sizeof(int64_t) +
               k.index.capacity() * (sizeof(uint64_t) + sizeof(uint32_t) + 1) +
               k.row_keys.capacity() * sizeof(uint64_t) + k.dirty.capacity();
    for (const LastN& l : last_n_) {
      bytes += l.heads.capacity() * sizeof(uint32_t);
      for (const auto& r : l.rings) bytes += r.capacity() * sizeof(uint32_t) + sizeof(r);
    }
    return bytes;
  }

  uint64_t LayoutHash() const override { return layout_hash_; }

  void DrainChanges(const RecordFn& fn) override {
    FUNNEL_CHECK(store_ != nullptr);
    std::string key, value;
    for (size_t k = 0; k < kNumKinds; ++k) {
      Kind& kind = kinds_[k];
      for (uint32_t row : kind.dirty_rows) {
        kind.dirty[row] = 0;
        key.clear();
        value.clear();
        EncodeRecord(static_cast<Entity>(k), row, &key, &value);
        fn(key, value);
      }
      kind.dirty_rows.clear();
    }
  }

  Status Restore(std::string_view key, std::string_view value, const EntityResolver& ids) override {
    auto bad = [&](std::string_view why) {
      return absl::DataLossError(Cat("online features: record '", Printable(key), "': ", why));
    };
    if (key.empty()) return bad("empty key");
    const char* letter = std::find(std::begin(kKeyLetter), std::end(kKeyLetter), key[0]);
    if (letter == std::end(kKeyLetter)) return bad("unknown entity kind");
    const auto entity = static_cast<Entity>(letter - std::begin(kKeyLetter));
    Kind& kind = kinds_[KindOf(entity)];
    codec::Reader in(value);
    uint8_t version = 0;
    uint64_t layout = 0;
    int64_t updated = 0;
    uint32_t stride = 0;
    if (!in.Raw(&version) || version != kRecordVersion) return bad("unknown record version");
    if (!in.Raw(&layout) || layout != layout_hash_)
      return bad("written under other feature definitions (layout hash differs)");
    if (!in.Raw(&updated) || !in.Raw(&stride) || stride != static_cast<uint32_t>(kind.stride))
      return bad("row width differs from the feature definitions");
    std::vector<double> row(stride);
    for (double& d : row)
      if (!in.Raw(&d)) return bad("truncated");

    std::string_view rest = key.substr(1);
    uint32_t target = kNoRow;
    switch (entity) {
      case Entity::kGlobal: target = global_row_; break;
      case Entity::kUser: {
        std::optional<UserIdx> u = ids.user ? ids.user(rest) : std::nullopt;
        if (!u) return absl::OkStatus();
        target = DenseRow(kind, Raw(*u));
        FUNNEL_RETURN_IF_ERROR(RestoreUserTail(in, *u, ids, bad));
        break;
      }
      case Entity::kItem: {
        std::optional<ItemIdx> i = ids.item ? ids.item(rest) : std::nullopt;
        if (!i) return absl::OkStatus();
        target = DenseRow(kind, Raw(*i));
        FUNNEL_RETURN_IF_ERROR(RestoreItemTail(in, *i, ids, bad));
        break;
      }
      case Entity::kUserCategory:
      case Entity::kUserCreator: {
        codec::Reader k(rest);
        std::string_view user_id;
        if (!k.Str(&user_id)) return bad("malformed key");
        std::string_view other = k.rest();
        std::optional<UserIdx> u = ids.user ? ids.user(user_id) : std::nullopt;
        if (!u) return absl::OkStatus();
        IdDictionary& dict = entity == Entity::kUserCategory ? categories_ : creators_;
        target = CrossRow(kind, Raw(*u), dict.Intern(other), true);
        break;
      }
    }
    if (!in.done()) return bad("trailing bytes");
    std::copy(row.begin(), row.end(), kind.values.begin() + size_t{target} * kind.stride);
    kind.updated[target] = updated;
    return absl::OkStatus();
  }

  void Clear() override {
    for (Kind& k : kinds_) k.ClearRows();
    global_row_ = kinds_[KindOf(Entity::kGlobal)].AddRow();
    for (LastN& l : last_n_) {
      l.rings.clear();
      l.heads.clear();
    }
    items_.clear();
    user_attrs_.clear();
    categories_.Truncate(0);
    creators_.Truncate(0);
  }

  void CrossKeys(std::string_view user_id, ItemIdx item, std::vector<std::string>* keys) const override {
    if (Raw(item) >= items_.size()) return;
    const ItemMeta& m = items_[Raw(item)];
    if (!kinds_[KindOf(Entity::kUserCategory)].slots.empty())
      for (uint32_t c : m.categories) keys->push_back(CrossRecordKey('c', user_id, categories_.Name(c)));
    if (!kinds_[KindOf(Entity::kUserCreator)].slots.empty() && m.creator >= 0)
      keys->push_back(CrossRecordKey('r', user_id, creators_.Name(static_cast<uint32_t>(m.creator))));
  }

 private:
  // Keys may hold arbitrary bytes (cross keys carry a length prefix); errors show them safely.
  static std::string Printable(std::string_view key) {
    std::string out;
    for (char c : key) out += (c >= 0x20 && c < 0x7f) ? std::string(1, c) : fmt::format("\\x{:02x}", uint8_t(c));
    return out;
  }

  void EncodeRecord(Entity entity, uint32_t row, std::string* key, std::string* value) const {
    const Kind& kind = kinds_[KindOf(entity)];
    switch (entity) {
      case Entity::kUser: *key = UserRecordKey(store_->UserName(UserIdx{row})); break;
      case Entity::kItem: *key = ItemRecordKey(store_->ItemName(ItemIdx{row})); break;
      case Entity::kGlobal: *key = GlobalRecordKey(); break;
      case Entity::kUserCategory:
      case Entity::kUserCreator: {
        uint64_t k = kind.row_keys[row];
        auto user = static_cast<uint32_t>(k >> 32), other = static_cast<uint32_t>(k);
        const IdDictionary& dict = entity == Entity::kUserCategory ? categories_ : creators_;
        *key = CrossRecordKey(kKeyLetter[KindOf(entity)], store_->UserName(UserIdx{user}), dict.Name(other));
        break;
      }
    }
    codec::PutU8(*value, kRecordVersion);
    codec::PutRaw(*value, layout_hash_);
    codec::PutRaw(*value, kind.updated[row]);
    codec::PutRaw(*value, static_cast<uint32_t>(kind.stride));
    const double* v = kind.values.data() + size_t{row} * kind.stride;
    for (int j = 0; j < kind.stride; ++j) codec::PutRaw(*value, v[j]);
    if (entity == Entity::kUser) EncodeUserTail(row, value);
    if (entity == Entity::kItem) EncodeItemTail(row, value);
  }

  // last_n rings of user-keyed features (item names), then the user's attribute values.
  void EncodeUserTail(uint32_t user, std::string* out) const {
    for (const LastN& l : last_n_) {
      if (l.entity != Entity::kUser) continue;
      std::vector<uint32_t> ids = l.InOrder(user);
      codec::PutVarint(*out, ids.size());
      for (uint32_t i : ids) codec::PutStr(*out, store_->ItemName(ItemIdx{i}));
    }
    const bool has = user < user_attrs_.size() && !user_attrs_[user].empty();
    codec::PutVarint(*out, has ? user_attrs_[user].size() : 0);
    if (has)
      for (double d : user_attrs_[user]) codec::PutRaw(*out, d);
  }

  Status RestoreUserTail(codec::Reader& in, UserIdx user, const EntityResolver& ids,
                         const std::function<Status(std::string_view)>& bad) {
    for (LastN& l : last_n_) {
      if (l.entity != Entity::kUser) continue;
      uint64_t n = 0;
      if (!in.Varint(&n)) return bad("truncated last_n");
      ResetRing(l, Raw(user));
      for (uint64_t j = 0; j < n; ++j) {
        std::string_view name;
        if (!in.Str(&name)) return bad("truncated last_n");
        std::optional<ItemIdx> item = ids.item ? ids.item(name) : std::nullopt;
        if (item) Push(l, Raw(user), Raw(*item));
      }
    }
    uint64_t n = 0;
    if (!in.Varint(&n)) return bad("truncated attributes");
    if (n != 0 && n != user_attribute_keys_.size()) return bad("attribute count differs");
    if (user_attrs_.size() <= Raw(user)) user_attrs_.resize(Raw(user) + 1);
    user_attrs_[Raw(user)].assign(n, 0.0);
    for (double& d : user_attrs_[Raw(user)])
      if (!in.Raw(&d)) return bad("truncated attributes");
    return absl::OkStatus();
  }

  // Metadata (upload time, duration, categories, creator, attributes), then last_n rings of
  // item-keyed features (user names).
  void EncodeItemTail(uint32_t item, std::string* out) const {
    ItemMeta none;
    const ItemMeta& m = item < items_.size() ? items_[item] : none;
    codec::PutU8(*out, m.known ? 1 : 0);
    codec::PutRaw(*out, m.uploaded_us);
    codec::PutRaw(*out, m.duration);
    codec::PutVarint(*out, m.categories.size());
    for (uint32_t c : m.categories) codec::PutStr(*out, categories_.Name(c));
    codec::PutStr(*out, m.creator >= 0 ? std::string_view(creators_.Name(uint32_t(m.creator))) : std::string_view());
    codec::PutVarint(*out, m.attributes.size());
    for (double d : m.attributes) codec::PutRaw(*out, d);
    for (const LastN& l : last_n_) {
      if (l.entity != Entity::kItem) continue;
      std::vector<uint32_t> ids = l.InOrder(item);
      codec::PutVarint(*out, ids.size());
      for (uint32_t u : ids) codec::PutStr(*out, store_->UserName(UserIdx{u}));
    }
  }

  Status RestoreItemTail(codec::Reader& in, ItemIdx item, const EntityResolver& ids,
                         const std::function<Status(std::string_view)>& bad) {
    if (items_.size() <= Raw(item)) items_.resize(Raw(item) + 1);
    ItemMeta m;
    uint8_t known = 0;
    uint64_t n = 0;
    std::string_view s;
    if (!in.Raw(&known) || !in.Raw(&m.uploaded_us) || !in.Raw(&m.duration) || !in.Varint(&n))
      return bad("truncated metadata");
    m.known = known != 0;
    for (uint64_t j = 0; j < n; ++j) {
      if (!in.Str(&s)) return bad("truncated categories");
      m.categories.push_back(categories_.Intern(s));
      if (j == 0) m.category_code = CategoryCode(s);
    }
    if (!in.Str(&s)) return bad("truncated creator");
    if (!s.empty()) {
      m.creator = creators_.Intern(s);
      m.creator_code = CategoryCode(s);
    }
    if (!in.Varint(&n)) return bad("truncated attributes");
    if (n != 0 && n != item_attribute_keys_.size()) return bad("attribute count differs");  // 0: no metadata
    m.attributes.resize(n);
    for (double& d : m.attributes)
      if (!in.Raw(&d)) return bad("truncated attributes");
    items_[Raw(item)] = std::move(m);
    for (LastN& l : last_n_) {
      if (l.entity != Entity::kItem) continue;
      if (!in.Varint(&n)) return bad("truncated last_n");
      ResetRing(l, Raw(item));
      for (uint64_t j = 0; j < n; ++j) {
        if (!in.Str(&s)) return bad("truncated last_n");
        std::optional<UserIdx> u = ids.user ? ids.user(s) : std::nullopt;
        if (u) Push(l, Raw(item), Raw(*u));
      }
    }
    return absl::OkStatus();
  }

  // Compute's evaluation order: every aggregate and static output, then the ratios over them.
  // Specs the parser would refuse (a ratio of a ratio, of a last_n, of an unknown name) leave
  // Compute on the reference path, which reports them as it always did.
  void PlanCompute() {
    plan_.clear();
    std::vector<Planned> ratios;
    for (int spec : outputs_) {
      const FeatureSpec& f = specs_[spec];
      Planned p;
      p.spec = spec;
      if (f.aggregation == Aggregation::kRatio) {
        p.source = Planned::kRatio;
        for (const std::string* part : {&f.numerator, &f.denominator}) {
          auto it = spec_index_.find(*part);
          if (it == spec_index_.end()) return;
          const FeatureSpec& g = specs_[it->second];
          if (g.aggregation == Aggregation::kRatio || !g.numeric()) return;
          (part == &f.numerator ? p.numerator : p.denominator) = it->second;
        }
        ratios.push_back(p);
        continue;
      }
      if (f.aggregation == Aggregation::kStatic) {
        p.source = Planned::kStatic;
        std::tie(p.static_kind, p.arg) = static_of_spec_.at(spec);
      } else {
        p.source = Planned::kAggregate;
        p.entity = f.entity;
        std::tie(p.kind, p.slot) = slot_of_spec_.at(spec);
      }
      plan_.push_back(p);
    }
    plan_.insert(plan_.end(), ratios.begin(), ratios.end());
    planned_ = true;
  }

  void SetItemMeta(ItemIdx idx, const events::Item& it) {
    if (items_.size() <= Raw(idx)) items_.resize(Raw(idx) + 1);
    ItemMeta& m = items_[Raw(idx)];
    m = ItemMeta{};
    m.known = true;
    if (it.ts) m.uploaded_us = it.ts->micros();
    for (const auto& c : it.categories) m.categories.push_back(categories_.Intern(c));
    if (!it.categories.empty()) m.category_code = CategoryCode(it.categories.front());
    if (!it.creator.empty()) {
      m.creator = creators_.Intern(it.creator);
      m.creator_code = CategoryCode(it.creator);
    }
    m.duration = AttributeValue(it.attributes, "duration");
    for (const auto& key : item_attribute_keys_) m.attributes.push_back(AttributeValue(it.attributes, key));
  }

  void SetUserAttributes(UserIdx idx, const events::User& u) {
    if (user_attribute_keys_.empty()) return;
    if (user_attrs_.size() <= Raw(idx)) user_attrs_.resize(Raw(idx) + 1);
    auto& v = user_attrs_[Raw(idx)];
    v.clear();
    for (const auto& key : user_attribute_keys_) v.push_back(AttributeValue(u.attributes, key));
  }

  void CompileSlot(int spec) {
    const FeatureSpec& f = specs_[spec];
    Kind& kind = kinds_[KindOf(f.entity)];
    Slot s;
    s.spec = spec;
    s.agg = f.aggregation;
    s.value = f.value;
    s.components = f.aggregation == Aggregation::kMean ? 2 : 1;
    if (f.half_life_seconds > 0) {
      auto it = std::find(kind.half_lives.begin(), kind.half_lives.end(), f.half_life_seconds);
      s.decay = static_cast<int>(it - kind.half_lives.begin());
      if (it == kind.half_lives.end()) kind.half_lives.push_back(f.half_life_seconds);
    }
    if (f.window_seconds > 0) s.bucket_seconds = f.window_seconds / kWindowBuckets;
    s.offset = kind.stride;
    kind.stride += s.width();
    double init = (s.agg == Aggregation::kLast || s.agg == Aggregation::kTimeSince) ? kNaN : 0.0;
    kind.init.insert(kind.init.end(), s.width(), init);
    slot_of_spec_[spec] = {KindOf(f.entity), kind.slots.size()};
    kind.slots.push_back(s);
  }

  void CompileStatic(int spec) {
    const std::string& src = specs_[spec].source;
    StaticKind k;
    size_t arg = 0;
    if (src == "item.age") k = StaticKind::kItemAge;
    else if (src == "item.duration") k = StaticKind::kItemDuration;
    else if (src == "item.category") k = StaticKind::kItemCategory;
    else if (src == "item.creator") k = StaticKind::kItemCreator;
    else if (src.starts_with("item.attribute.")) {
      k = StaticKind::kItemAttribute;
      arg = item_attribute_keys_.size();
      item_attribute_keys_.push_back(src.substr(std::string_view("item.attribute.").size()));
    } else {
      k = StaticKind::kUserAttribute;
      arg = user_attribute_keys_.size();
      user_attribute_keys_.push_back(src.substr(std::string_view("user.attribute.").size()));
    }
    static_of_spec_[spec] = {k, arg};
  }

  // Per event type: for each entity kind, the slots it feeds and with what weight.
  using TypeSlots = std::array<std::vector<std::pair<size_t, double>>, kNumKinds>;
  const TypeSlots& SlotsForType(TypeIdx type) {
    if (by_type_.size() <= Raw(type)) by_type_.resize(Raw(type) + 1);
    auto& entry = by_type_[Raw(type)];
    if (!entry) {
      entry = std::make_unique<TypeSlots>();
      std::string name = store_->TypeName(type);
      for (size_t k = 0; k < kNumKinds; ++k)
        for (size_t s = 0; s < kinds_[k].slots.size(); ++s) {
          const FeatureSpec& f = specs_[kinds_[k].slots[s].spec];
          auto it = f.types.find(name);
          if (it != f.types.end()) (*entry)[k].push_back({s, it->second});
        }
    }
    return *entry;
  }

  const std::string& TypeNameCached(TypeIdx type) {
    if (type_names_.size() <= Raw(type)) type_names_.resize(Raw(type) + 1);
    std::string& n = type_names_[Raw(type)];
    if (n.empty()) n = store_->TypeName(type);
    return n;
  }

  static uint32_t DenseRow(Kind& kind, uint32_t idx) {
    while (kind.rows() <= idx) kind.AddRow();
    return idx;
  }

  static uint64_t CrossKey(uint32_t user, uint32_t other) { return (uint64_t{user} << 32) | other; }

  static uint32_t CrossRow(Kind& kind, uint32_t user, uint32_t other, bool create) {
    auto it = kind.index.find(CrossKey(user, other));
    if (it != kind.index.end()) return it->second;
    if (!create) return kNoRow;
    uint32_t row = kind.AddRow();
    kind.index.emplace(CrossKey(user, other), row);
    kind.row_keys.push_back(CrossKey(user, other));
    return row;
  }
  static uint32_t FindCrossRow(const Kind& kind, uint32_t user, uint32_t other) {
    auto it = kind.index.find(CrossKey(user, other));
    return it == kind.index.end() ? kNoRow : it->second;
  }

  // Brings a row's aggregates forward to time t (decay, window buckets).
  static void Advance(Kind& kind, uint32_t row, int64_t t) {
    int64_t& last = kind.updated[row];
    if (last == kNever) {
      last = t;
      return;
    }
    if (t <= last) return;
    double dt = static_cast<double>(t - last) / 1e6;
    double factors[8];
    size_t nf = std::min<size_t>(kind.half_lives.size(), 8);
    for (size_t h = 0; h < nf; ++h) factors[h] = std::exp2(-dt / kind.half_lives[h]);
    double* v = kind.values.data() + size_t{row} * kind.stride;
    for (const Slot& s : kind.slots) {
      if (s.bucket_seconds > 0) {
        int64_t prev = BucketOf(last, s.bucket_seconds), cur = BucketOf(t, s.bucket_seconds);
        for (int64_t b = prev + 1; b <= cur && b <= prev + kWindowBuckets; ++b)
          for (int c = 0; c < s.components; ++c) v[s.offset + Cell(b) * s.components + c] = 0;
      } else if (s.decay >= 0) {
        double f = size_t(s.decay) < nf ? factors[s.decay] : std::exp2(-dt / kind.half_lives[s.decay]);
        for (int c = 0; c < s.components; ++c) v[s.offset + c] *= f;
      }
    }
    last = t;
  }

  static int64_t BucketOf(int64_t t_us, double bucket_seconds) {
    return static_cast<int64_t>(std::floor(static_cast<double>(t_us) / 1e6 / bucket_seconds));
  }
  static int Cell(int64_t bucket) {
    return static_cast<int>(((bucket % kWindowBuckets) + kWindowBuckets) % kWindowBuckets);
  }

  void AddEvent(Kind& kind, uint32_t row, const Slot& s, double weight, const store::StoredEvent& e,
                const ItemMeta* meta) {
    double x = 1;
    if (s.value == ValueMode::kValue) {
      if (!e.value) return;
      x = *e.value;
    } else if (s.value == ValueMode::kWatchRatio) {
      if (!e.value || meta == nullptr || !(meta->duration > 0)) return;
      x = std::min(*e.value / meta->duration, kMaxWatchRatio);
    }
    double* v = kind.values.data() + size_t{row} * kind.stride + s.offset;
    if (s.bucket_seconds > 0) {
      // Late events land in the row's current bucket, as Advance treats them as on-time.
      int64_t t = std::max(e.ts.micros(), kind.updated[row]);
      v += Cell(BucketOf(t, s.bucket_seconds)) * s.components;
    }
    switch (s.agg) {
      case Aggregation::kCount: v[0] += weight; break;
      case Aggregation::kSum: v[0] += weight * x; break;
      case Aggregation::kMean:
        v[0] += weight * x;
        v[1] += weight;
        break;
      case Aggregation::kLast: v[0] = weight * x; break;
      case Aggregation::kTimeSince: v[0] = static_cast<double>(kind.updated[row]) / 1e6; break;
      default: break;
    }
  }

  // The value of one aggregate slot of one row as of t.
  // `factors`, when given, caches this row's decay factor per half-life (NaN: not computed yet).
  static double Read(const Kind& kind, uint32_t row, const Slot& s, int64_t t, double* factors = nullptr) {
    if (row == kNoRow || row >= kind.rows() || kind.updated[row] == kNever) {
      return s.agg == Aggregation::kCount || s.agg == Aggregation::kSum ? 0.0 : kNaN;
    }
    int64_t last = kind.updated[row];
    const double* v = kind.values.data() + size_t{row} * kind.stride + s.offset;
    double a = v[0], b = s.components > 1 ? v[1] : 0;
    if (s.bucket_seconds > 0) {
      a = b = 0;
      int64_t prev = BucketOf(last, s.bucket_seconds), cur = BucketOf(std::max(t, last), s.bucket_seconds);
      for (int64_t bk = std::max(prev, cur) - kWindowBuckets + 1; bk <= prev; ++bk) {
        if (bk <= cur - kWindowBuckets) continue;
        a += v[Cell(bk) * s.components];
        if (s.components > 1) b += v[Cell(bk) * s.components + 1];
      }
    } else if (s.decay >= 0 && t > last) {
      double f = factors ? factors[s.decay] : kNaN;
      if (std::isnan(f)) {
        f = std::exp2(-(static_cast<double>(t - last) / 1e6) / kind.half_lives[s.decay]);
        if (factors) factors[s.decay] = f;
      }
      a *= f;
      b *= f;
    }
    switch (s.agg) {
      case Aggregation::kMean: return b > 0 ? a / b : kNaN;
      case Aggregation::kTimeSince: return std::isnan(a) ? kNaN : (static_cast<double>(t) / 1e6 - a) / 3600.0;
      default: return a;
    }
  }

  double Value(int spec, UserIdx user, ItemIdx item, int64_t t) const {
    const FeatureSpec& f = specs_[spec];
    if (f.aggregation == Aggregation::kRatio) {
      return RatioOf(f, Value(spec_index_.at(f.numerator), user, item, t),
                     Value(spec_index_.at(f.denominator), user, item, t));
    }
    if (f.aggregation == Aggregation::kStatic) {
      auto [k, arg] = static_of_spec_.at(spec);
      return StaticValue(k, arg, user, item, t);
    }
    auto [k, s] = slot_of_spec_.at(spec);
    const Kind& kind = kinds_[k];
    const Slot& slot = kind.slots[s];
    const ItemMeta* meta = Raw(item) < items_.size() ? &items_[Raw(item)] : nullptr;
    switch (f.entity) {
      case Entity::kUser: return Read(kind, Raw(user), slot, t);
      case Entity::kItem: return Read(kind, Raw(item), slot, t);
      case Entity::kGlobal: return Read(kind, global_row_, slot, t);
      case Entity::kUserCreator:
        return Read(kind, meta && meta->creator >= 0 ? FindCrossRow(kind, Raw(user), uint32_t(meta->creator)) : kNoRow, slot, t);
      case Entity::kUserCategory: {
        double acc = kNaN;
        int n = 0;
        if (meta) {
          for (uint32_t c : meta->categories) {
            double x = Read(kind, FindCrossRow(kind, Raw(user), c), slot, t);
            if (std::isnan(x)) continue;
            if (n == 0) acc = x;
            else if (f.combine == Combine::kMax) acc = std::max(acc, x);
            else if (f.combine == Combine::kMin) acc = std::min(acc, x);
            else acc += x;
            ++n;
          }
        }
        if (n == 0) return Read(kind, kNoRow, slot, t);  // the kind's "no state" value
        return f.combine == Combine::kMean ? acc / n : acc;
      }
    }
    return kNaN;
  }

  // Missing when no event of the denominator's types counts (a zero count, or a non-positive
  // one from negative weights): the prior then stood for every bit of the denominator, and the
  // smoothed figure read as data, above 1 even (likes over 5 pseudo-impressions of a user whose
  // impressions are not logged: 4.8 decayed likes gave (4.8 + 0.1 * 5) / (0 + 5) = 1.06). Trees
  // route missing values on their own, which is better than a made-up rate. The prior still
  // smooths a small real denominator. Every path (Compute, ComputeReference, the dataset
  // builder, the online store) divides here, so they agree.
  static double RatioOf(const FeatureSpec& f, double num, double den) {
    if (std::isnan(num) || std::isnan(den) || !(den > 0)) return kNaN;
    return (num + f.prior_mean * f.prior_weight) / (den + f.prior_weight);
  }

  double StaticValue(StaticKind k, size_t arg, UserIdx user, ItemIdx item, int64_t t) const {
    if (k == StaticKind::kUserAttribute) {
      if (Raw(user) >= user_attrs_.size() || user_attrs_[Raw(user)].empty()) return kNaN;
      return user_attrs_[Raw(user)][arg];
    }
    if (Raw(item) >= items_.size()) return kNaN;
    const ItemMeta& m = items_[Raw(item)];
    switch (k) {
      case StaticKind::kItemAge:
        return m.uploaded_us == kNever ? kNaN : static_cast<double>(t - m.uploaded_us) / 3.6e9;
      case StaticKind::kItemDuration: return m.duration;
      case StaticKind::kItemCategory: return m.category_code;
      case StaticKind::kItemCreator: return m.creator_code;
      case StaticKind::kItemAttribute: return arg < m.attributes.size() ? m.attributes[arg] : kNaN;
      default: return kNaN;
    }
  }

  // A number, a string (as its category code) or a boolean; anything else is missing.
  double AttributeValue(const std::string& json, const std::string& key) {
    std::optional<simdjson::dom::element> found = AttributeOf(json_, json, key);
    if (!found) return kNaN;
    simdjson::dom::element v = *found;
    if (v.is_number()) return v.get_double().value_unsafe();
    if (v.is_string()) return CategoryCode(v.get_string().value_unsafe());
    if (v.is_bool()) return v.get_bool().value_unsafe() ? 1.0 : 0.0;
    return kNaN;
  }

  static void ResetRing(LastN& l, uint32_t row) {
    if (l.rings.size() <= row) {
      l.rings.resize(row + 1);
      l.heads.resize(row + 1, 0);
    }
    l.rings[row].clear();
    l.heads[row] = 0;
  }

  static void Push(LastN& l, uint32_t row, uint32_t id) {
    if (l.rings.size() <= row) {
      l.rings.resize(row + 1);
      l.heads.resize(row + 1, 0);
    }
    auto& ring = l.rings[row];
    if (ring.size() < size_t(l.n)) {
      ring.push_back(id);
      l.heads[row] = static_cast<uint32_t>(ring.size() % l.n);
      return;
    }
    ring[l.heads[row]] = id;
    l.heads[row] = (l.heads[row] + 1) % l.n;
  }

  std::vector<FeatureSpec> specs_;
  const store::EventStore* store_;  // null for detached folds
  uint64_t layout_hash_ = 0;
  absl::flat_hash_map<std::string, int> spec_index_;
  std::vector<std::string> names_;
  std::vector<int> outputs_;  // spec index per output column
  std::array<Kind, kNumKinds> kinds_;
  uint32_t global_row_ = 0;
  absl::flat_hash_map<int, std::pair<size_t, size_t>> slot_of_spec_;  // spec -> (kind, slot)
  absl::flat_hash_map<int, std::pair<StaticKind, size_t>> static_of_spec_;
  std::vector<LastN> last_n_;
  // One step of Compute's plan: where an output's value comes from, resolved at Init.
  struct Planned {
    enum Source : uint8_t { kAggregate, kStatic, kRatio };
    Source source = kAggregate;
    int spec = 0;
    Entity entity = Entity::kUser;
    size_t kind = 0, slot = 0;                          // aggregates
    StaticKind static_kind = StaticKind::kItemAge;      // statics
    size_t arg = 0;
    int numerator = 0, denominator = 0;                 // ratios: spec indexes
  };
  std::vector<Planned> plan_;
  bool planned_ = false;  // false: Compute takes the reference path
  std::vector<std::unique_ptr<TypeSlots>> by_type_;
  std::vector<std::string> type_names_;
  std::vector<ItemMeta> items_;
  std::vector<std::vector<double>> user_attrs_;
  std::vector<std::string> item_attribute_keys_, user_attribute_keys_;
  IdDictionary categories_, creators_;
  simdjson::dom::parser json_;
};

}  // namespace

// Categorical strings become 24-bit codes: stable across runs and exactly representable in a
// float, so datasets and online vectors agree bit for bit.
double CategoricalCode(std::string_view value) { return static_cast<double>(StableHash64(value) & 0xFFFFFF); }

std::optional<std::string> StaticFeatureText(const FeatureSpec& f, const events::Item* item,
                                             const events::User* user) {
  if (f.aggregation != Aggregation::kStatic) return std::nullopt;
  constexpr std::string_view kItemAttr = "item.attribute.", kUserAttr = "user.attribute.";
  const std::string* json = nullptr;
  std::string_view key;
  if (f.source == "item.category") {
    if (item == nullptr || item->categories.empty()) return std::nullopt;
    return item->categories.front();  // what SetItemMeta encodes
  }
  if (f.source == "item.creator") {
    if (item == nullptr || item->creator.empty()) return std::nullopt;
    return item->creator;
  }
  if (f.source.starts_with(kItemAttr) && item != nullptr) {
    json = &item->attributes;
    key = std::string_view(f.source).substr(kItemAttr.size());
  } else if (f.source.starts_with(kUserAttr) && user != nullptr) {
    json = &user->attributes;
    key = std::string_view(f.source).substr(kUserAttr.size());
  }
  if (json == nullptr) return std::nullopt;
  simdjson::dom::parser parser;
  std::optional<simdjson::dom::element> v = AttributeOf(parser, *json, key);
  if (!v || !v->is_string()) return std::nullopt;  // numbers and booleans are their own values
  return std::string(v->get_string().value_unsafe());
}

std::string UserRecordKey(std::string_view user_id) { return Cat("u", user_id); }
std::string ItemRecordKey(std::string_view item_id) { return Cat("i", item_id); }
std::string GlobalRecordKey() { return "g"; }

StatusOr<std::unique_ptr<FeatureFold>> FeatureFold::Create(std::vector<FeatureSpec> specs,
                                                           const store::EventStore* store) {
  FUNNEL_CHECK(store != nullptr);
  auto fold = std::make_unique<FeatureFoldImpl>(std::move(specs), store);
  FUNNEL_RETURN_IF_ERROR(fold->Init());
  return std::unique_ptr<FeatureFold>(std::move(fold));
}

StatusOr<std::unique_ptr<FeatureFold>> FeatureFold::CreateDetached(std::vector<FeatureSpec> specs) {
  auto fold = std::make_unique<FeatureFoldImpl>(std::move(specs), nullptr);
  FUNNEL_RETURN_IF_ERROR(fold->Init());
  return std::unique_ptr<FeatureFold>(std::move(fold));
}

}  // namespace funnel::features
