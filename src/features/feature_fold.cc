#include "funnel/features/feature_fold.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <simdjson.h>

#include "absl/container/flat_hash_map.h"
#include "funnel/core/hash.h"

namespace funnel::features {

namespace {

constexpr int kWindowBuckets = 12;
constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMaxWatchRatio = 5.0;  // a looped short video: cap so one binge can't dominate
constexpr size_t kNumKinds = 5;

size_t KindOf(Entity e) { return static_cast<size_t>(e); }

// Categorical strings become 24-bit codes: stable across runs and exactly representable in a
// float, so datasets and online vectors agree bit for bit.
double CategoryCode(std::string_view s) { return static_cast<double>(StableHash64(s) & 0xFFFFFF); }

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

  size_t rows() const { return updated.size(); }
  uint32_t AddRow() {
    values.insert(values.end(), init.begin(), init.end());
    updated.push_back(kNever);
    return static_cast<uint32_t>(updated.size() - 1);
  }
};

struct ItemMeta {
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
  std::vector<std::vector<uint32_t>> rings;  // per entity row, newest last (ring via head)
  std::vector<uint32_t> heads;
};

// What a static feature reads.
enum class StaticKind { kItemAge, kItemDuration, kItemCategory, kItemCreator, kItemAttribute, kUserAttribute };

class FeatureFoldImpl final : public FeatureFold {
 public:
  FeatureFoldImpl(std::vector<FeatureSpec> specs, const store::EventStore& store)
      : specs_(std::move(specs)), store_(store) {}

  Status Init() {
    for (size_t i = 0; i < specs_.size(); ++i) {
      const FeatureSpec& f = specs_[i];
      spec_index_[f.name] = static_cast<int>(i);
      if (f.aggregation == Aggregation::kLastN) {
        last_n_.push_back({static_cast<int>(i), f.last_n, {}, {}});
        last_n_kind_.push_back(f.entity);
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
    FUNNEL_RETURN_IF_ERROR(store_.ForEachItem([&](ItemIdx idx, const events::Item& it) {
      UpsertItem(idx, it);
      return true;
    }));
    return store_.ForEachUser([&](UserIdx idx, const events::User& u) {
      UpsertUser(idx, u);
      return true;
    });
  }

  void Apply(const store::StoredEvent& e) override {
    const auto& by_kind = SlotsForType(e.type);
    int64_t t = e.ts.micros();
    const ItemMeta* meta = Raw(e.item) < items_.size() ? &items_[Raw(e.item)] : nullptr;
    for (size_t k = 0; k < kNumKinds; ++k) {
      const auto& matches = by_kind[k];
      if (matches.empty()) continue;
      Kind& kind = kinds_[k];
      auto fold_into = [&](uint32_t row) {
        Advance(kind, row, t);
        for (const auto& [slot_index, weight] : matches) AddEvent(kind, row, kind.slots[slot_index], weight, e, meta);
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
    for (size_t i = 0; i < last_n_.size(); ++i) {
      const FeatureSpec& f = specs_[last_n_[i].spec];
      if (!f.types.contains(TypeNameCached(e.type))) continue;
      bool by_user = last_n_kind_[i] == Entity::kUser;
      Push(last_n_[i], by_user ? Raw(e.user) : Raw(e.item), by_user ? Raw(e.item) : Raw(e.user));
    }
  }

  void UpsertItem(ItemIdx idx, const events::Item& it) override {
    if (items_.size() <= Raw(idx)) items_.resize(Raw(idx) + 1);
    ItemMeta& m = items_[Raw(idx)];
    m = ItemMeta{};
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

  void UpsertUser(UserIdx idx, const events::User& u) override {
    if (user_attribute_keys_.empty()) return;
    if (user_attrs_.size() <= Raw(idx)) user_attrs_.resize(Raw(idx) + 1);
    auto& v = user_attrs_[Raw(idx)];
    v.clear();
    for (const auto& key : user_attribute_keys_) v.push_back(AttributeValue(u.attributes, key));
  }

  const std::vector<std::string>& names() const override { return names_; }

  void Compute(UserIdx user, ItemIdx item, Timestamp t, std::span<float> out) const override {
    FUNNEL_CHECK(out.size() == outputs_.size());
    for (size_t i = 0; i < outputs_.size(); ++i)
      out[i] = static_cast<float>(Value(outputs_[i], user, item, t.micros()));
  }

  std::vector<ItemIdx> LastItems(UserIdx user, std::string_view feature) const override {
    std::vector<ItemIdx> out;
    for (size_t i = 0; i < last_n_.size(); ++i) {
      if (specs_[last_n_[i].spec].name != feature) continue;
      const LastN& l = last_n_[i];
      if (Raw(user) >= l.rings.size()) return out;
      const auto& ring = l.rings[Raw(user)];
      uint32_t head = l.heads[Raw(user)];
      for (size_t j = 0; j < ring.size(); ++j)  // newest first
        out.push_back(ItemIdx{ring[(head + ring.size() - 1 - j) % ring.size()]});
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
               k.index.capacity() * (sizeof(uint64_t) + sizeof(uint32_t) + 1);
    for (const LastN& l : last_n_) {
      bytes += l.heads.capacity() * sizeof(uint32_t);
      for (const auto& r : l.rings) bytes += r.capacity() * sizeof(uint32_t) + sizeof(r);
    }
    return bytes;
  }

 private:
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
      std::string name = store_.TypeName(type);
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
    if (n.empty()) n = store_.TypeName(type);
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
    if (!create) return UINT32_MAX;
    uint32_t row = kind.AddRow();
    kind.index.emplace(CrossKey(user, other), row);
    return row;
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
  static double Read(const Kind& kind, uint32_t row, const Slot& s, int64_t t) {
    if (row == UINT32_MAX || row >= kind.rows() || kind.updated[row] == kNever) {
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
      double f = std::exp2(-(static_cast<double>(t - last) / 1e6) / kind.half_lives[s.decay]);
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
      double num = Value(spec_index_.at(f.numerator), user, item, t);
      double den = Value(spec_index_.at(f.denominator), user, item, t);
      double d = den + f.prior_weight;
      if (std::isnan(num) || std::isnan(den) || !(d > 0)) return kNaN;
      return (num + f.prior_mean * f.prior_weight) / d;
    }
    if (f.aggregation == Aggregation::kStatic) return StaticValue(spec, user, item, t);
    auto [k, s] = slot_of_spec_.at(spec);
    const Kind& kind = kinds_[k];
    const Slot& slot = kind.slots[s];
    const ItemMeta* meta = Raw(item) < items_.size() ? &items_[Raw(item)] : nullptr;
    switch (f.entity) {
      case Entity::kUser: return Read(kind, Raw(user), slot, t);
      case Entity::kItem: return Read(kind, Raw(item), slot, t);
      case Entity::kGlobal: return Read(kind, global_row_, slot, t);
      case Entity::kUserCreator:
        return Read(kind, meta && meta->creator >= 0 ? CrossRow(const_cast<Kind&>(kind), Raw(user), uint32_t(meta->creator), false) : UINT32_MAX, slot, t);
      case Entity::kUserCategory: {
        double acc = kNaN;
        int n = 0;
        if (meta) {
          for (uint32_t c : meta->categories) {
            double x = Read(kind, CrossRow(const_cast<Kind&>(kind), Raw(user), c, false), slot, t);
            if (std::isnan(x)) continue;
            if (n == 0) acc = x;
            else if (f.combine == Combine::kMax) acc = std::max(acc, x);
            else if (f.combine == Combine::kMin) acc = std::min(acc, x);
            else acc += x;
            ++n;
          }
        }
        if (n == 0) return Read(kind, UINT32_MAX, slot, t);  // the kind's "no state" value
        return f.combine == Combine::kMean ? acc / n : acc;
      }
    }
    return kNaN;
  }

  double StaticValue(int spec, UserIdx user, ItemIdx item, int64_t t) const {
    auto [k, arg] = static_of_spec_.at(spec);
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
    if (json.empty()) return kNaN;
    simdjson::dom::element root;
    if (json_.parse(json).get(root)) return kNaN;
    simdjson::dom::element v;
    if (root[key].get(v)) return kNaN;
    if (v.is_number()) return v.get_double().value_unsafe();
    if (v.is_string()) return CategoryCode(v.get_string().value_unsafe());
    if (v.is_bool()) return v.get_bool().value_unsafe() ? 1.0 : 0.0;
    return kNaN;
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
  const store::EventStore& store_;
  absl::flat_hash_map<std::string, int> spec_index_;
  std::vector<std::string> names_;
  std::vector<int> outputs_;  // spec index per output column
  std::array<Kind, kNumKinds> kinds_;
  uint32_t global_row_ = 0;
  absl::flat_hash_map<int, std::pair<size_t, size_t>> slot_of_spec_;  // spec -> (kind, slot)
  absl::flat_hash_map<int, std::pair<StaticKind, size_t>> static_of_spec_;
  std::vector<LastN> last_n_;
  std::vector<Entity> last_n_kind_;
  std::vector<std::unique_ptr<TypeSlots>> by_type_;
  std::vector<std::string> type_names_;
  std::vector<ItemMeta> items_;
  std::vector<std::vector<double>> user_attrs_;
  std::vector<std::string> item_attribute_keys_, user_attribute_keys_;
  IdDictionary categories_, creators_;
  simdjson::dom::parser json_;
};

}  // namespace

StatusOr<std::unique_ptr<FeatureFold>> FeatureFold::Create(std::vector<FeatureSpec> specs,
                                                           const store::EventStore& store) {
  auto fold = std::make_unique<FeatureFoldImpl>(std::move(specs), store);
  FUNNEL_RETURN_IF_ERROR(fold->Init());
  return std::unique_ptr<FeatureFold>(std::move(fold));
}

}  // namespace funnel::features
