#include "funnel/events/json_parser.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <span>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <simdjson.h>

namespace funnel::events {

// simdjson's DOM API, not On Demand: Debian's build compiles On Demand for the portable
// fallback kernel only (its kernel is chosen at compile time), while DOM parsing dispatches at
// run time to the machine's SIMD kernel.
namespace dom = simdjson::dom;

namespace {

std::string_view TypeName(dom::element_type t) {
  switch (t) {
    case dom::element_type::ARRAY: return "array";
    case dom::element_type::OBJECT: return "object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE: return "number";
    case dom::element_type::STRING: return "string";
    case dom::element_type::BOOL: return "boolean";
    case dom::element_type::NULL_VALUE: return "null";
  }
  return "unknown";
}

bool IsNumber(dom::element_type t) {
  return t == dom::element_type::INT64 || t == dom::element_type::UINT64 ||
         t == dom::element_type::DOUBLE;
}

Status FieldError(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(Cat("field \"", field, "\": ", what));
}

// `*has_upper` tells whether the standard types need a case-insensitive look.
bool ValidTypeName(std::string_view t, bool* has_upper) {
  if (t.empty() || t.size() > 64) return false;
  bool upper = false;
  for (char c : t) {
    bool is_upper = c >= 'A' && c <= 'Z';
    upper |= is_upper;
    bool ok = (c >= 'a' && c <= 'z') || is_upper || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  *has_upper = upper;
  return true;
}

// The fields a record may have; the first `required` of them must be present and not null.
template <size_t N>
struct FieldSet {
  std::array<std::string_view, N> names;
  size_t required;
  std::array<bool, N> seen{};
  std::array<bool, N> null{};

  size_t Find(std::string_view key) const {
    for (size_t i = 0; i < N; ++i)
      if (names[i] == key) return i;
    return N;
  }
};

}  // namespace

struct JsonParser::Impl {
  explicit Impl(const ImportConfig& l) : limits(l) {}

  ImportConfig limits;
  dom::parser parser;
  std::string scratch;  // padded copy for lines without readable padding

  Status ReadString(std::string_view field, dom::element v, std::string* out) {
    if (!v.is_string()) return FieldError(field, Cat("expected a string, got ", TypeName(v.type())));
    std::string_view s = v.get_string().value_unsafe();
    if (s.empty()) return FieldError(field, "must not be empty");
    if (s.size() > limits.max_id_bytes)
      return FieldError(field, Cat(s.size(), " bytes, longer than the limit of ", limits.max_id_bytes));
    out->assign(s);
    return absl::OkStatus();
  }

  // An id: a string, or a JSON integer read as its decimal text (SQL exports have numeric keys).
  Status ReadId(std::string_view field, dom::element v, std::string* out) {
    if (v.is_string()) [[likely]] return ReadString(field, v, out);
    return ReadNonStringId(field, v, out);
  }
  // Out of line, so that ReadId's string case inlines into the per-event path.
  [[gnu::noinline]] static Status ReadNonStringId(std::string_view field, dom::element v, std::string* out) {
    char digits[24];
    char* end = nullptr;
    switch (v.type()) {
      case dom::element_type::INT64:
        end = std::to_chars(digits, digits + sizeof digits, v.get_int64().value_unsafe()).ptr;
        break;
      case dom::element_type::UINT64:
        end = std::to_chars(digits, digits + sizeof digits, v.get_uint64().value_unsafe()).ptr;
        break;
      case dom::element_type::DOUBLE:
        // 7.0 and 1e3 too: simdjson keeps no token text, and an id that went through a float
        // may have lost digits already, so only integer tokens are taken.
        return FieldError(field, Cat("expected a string or an integer id, got a number with a fraction or an exponent (",
                                     v.get_double().value_unsafe(), "): write ids as strings or integers"));
      default:
        return FieldError(field, Cat("expected a string or an integer id, got ", TypeName(v.type())));
    }
    out->assign(digits, end);
    return absl::OkStatus();
  }

  static Status ReadNumber(std::string_view field, dom::element v, double* out) {
    if (!IsNumber(v.type())) return FieldError(field, Cat("expected a number, got ", TypeName(v.type())));
    *out = v.get_double().value_unsafe();
    return absl::OkStatus();
  }

  static Status ReadTimestamp(std::string_view field, dom::element v, Timestamp* out) {
    double secs = 0;
    FUNNEL_RETURN_IF_ERROR(ReadNumber(field, v, &secs));
    if (!Timestamp::IsRepresentableSeconds(secs)) {
      std::string_view hint = secs >= Timestamp::kMaxSeconds && secs < Timestamp::kMaxSeconds * 1e6
                                  ? " (milliseconds? ts is in Unix seconds)"
                                  : "";
      return FieldError(field, Cat(secs, " is out of range: expected Unix seconds in [0, ",
                                   Timestamp::kMaxSeconds, ")", hint));
    }
    *out = Timestamp::FromSeconds(secs);
    return absl::OkStatus();
  }

  // A nested JSON object, kept as minified text.
  Status ReadObject(std::string_view field, dom::element v, std::string* out) {
    if (!v.is_object()) return FieldError(field, Cat("expected an object, got ", TypeName(v.type())));
    *out = simdjson::minify(v);
    if (out->size() > limits.max_context_bytes)
      return FieldError(field, Cat(out->size(), " bytes, longer than the limit of ",
                                   limits.max_context_bytes));
    return absl::OkStatus();
  }

  Status ReadCategories(std::string_view field, dom::element v, std::vector<std::string>* out) {
    if (!v.is_array())
      return FieldError(field, Cat("expected an array of strings, got ", TypeName(v.type())));
    dom::array arr;
    if (v.get_array().get(arr)) return FieldError(field, "expected an array of strings");
    for (dom::element el : arr) {
      std::string category;
      FUNNEL_RETURN_IF_ERROR(ReadString("categories[]", el, &category));
      out->push_back(std::move(category));
    }
    return absl::OkStatus();
  }

  // The Check of records that have no other kind to be confused with (events): ParseObject
  // then returns at the first bad field instead of looking at every key.
  struct NoCheck {
    Status operator()(const auto&) const { return absl::OkStatus(); }
  };

  // Parses `line` as one JSON object and calls fn(index, key, value) for each known, non-null
  // field; nulls are marked in fields.null, unknown keys collected in `unknown`. `check(fields)`
  // runs after every key was seen and before a field's error is returned, so that "this is an
  // event" wins over whatever field of the event does not fit an item.

  template <size_t N, typename Fn, typename Check>
  Status ParseObject(std::string_view line, size_t readable_after, FieldSet<N>& fields, Fn&& fn,
                     Check&& check) {
    unknown.clear();
    if (line.size() > limits.max_line_bytes)
      return absl::InvalidArgumentError(
          Cat("line is ", line.size(), " bytes, longer than the limit of ", limits.max_line_bytes));
    const char* data = line.data();
    if (readable_after < simdjson::SIMDJSON_PADDING) {
      scratch.assign(line);
      scratch.append(simdjson::SIMDJSON_PADDING, '\0');
      data = scratch.data();
    }
    dom::element root;
    if (auto err = parser.parse(data, line.size(), /*realloc_if_needed=*/false).get(root))
      return absl::InvalidArgumentError(Cat("invalid JSON: ", simdjson::error_message(err)));
    if (!root.is_object())
      return absl::InvalidArgumentError(Cat("expected a JSON object, got ", TypeName(root.type())));
    dom::object obj;
    if (root.get_object().get(obj)) return absl::InvalidArgumentError("expected a JSON object");
    constexpr bool kEarlyReturn = std::is_same_v<std::decay_t<Check>, NoCheck>;
    Status first_error;
    for (dom::key_value_pair kv : obj) {
      size_t idx = fields.Find(kv.key);
      if (idx == N) {  // unknown fields are ignored so producers may add their own, and counted
        unknown.push_back(kv.key);
        continue;
      }
      if (fields.seen[idx]) [[unlikely]] {
        Status dup = absl::InvalidArgumentError(Cat("duplicate field \"", kv.key, "\""));
        if constexpr (kEarlyReturn) return dup;
        if (first_error.ok()) first_error = std::move(dup);
        continue;
      }
      fields.seen[idx] = true;
      if (kv.value.is_null()) {
        fields.null[idx] = true;
        continue;
      }
      if (!first_error.ok()) continue;
      Status s = fn(idx, kv.key, kv.value);
      if (!s.ok()) [[unlikely]] {
        if constexpr (kEarlyReturn) return s;
        first_error = std::move(s);
      }
    }
    FUNNEL_RETURN_IF_ERROR(check(fields));
    FUNNEL_RETURN_IF_ERROR(first_error);
    for (size_t i = 0; i < fields.required; ++i) {
      if (!fields.seen[i])
        return absl::InvalidArgumentError(Cat("missing required field \"", fields.names[i], "\""));
      if (fields.null[i]) return FieldError(fields.names[i], "is required and must not be null");
    }
    return absl::OkStatus();
  }

  // An item or user record with an event's fields: refused, with what to do instead.
  // `tell_tale` is the key no record of this kind has (item: "user", user: "item"); `type`
  // counts only when the record has none of its own optional fields (an item may well carry
  // a custom "type":"movie" beside its categories).
  Status LooksLikeEvent(std::string_view tell_tale, bool has_own_fields) const {
    bool has_tell_tale = false, has_type = false;
    for (std::string_view k : unknown) {
      has_tell_tale |= k == tell_tale;
      has_type |= k == "type";
    }
    if (!has_tell_tale && !(has_type && !has_own_fields)) return absl::OkStatus();
    std::string keys;
    std::vector<std::string_view> found;
    for (std::string_view k : {tell_tale, std::string_view("type"), std::string_view("ts")})
      if (std::find(unknown.begin(), unknown.end(), k) != unknown.end()) found.push_back(k);
    for (size_t i = 0; i < found.size(); ++i)
      keys += Cat(i == 0 ? "" : i + 1 == found.size() ? " and " : ", ", "\"", found[i], "\"");
    return absl::InvalidArgumentError(
        Cat("looks like an event (it has ", keys, "): use funnel import events"));
  }

  // Counts of names seen in accepted records, for the import summary. Bounded, since a
  // long-running consumer shares its parser with every record of a stream.
  static constexpr size_t kMaxTallied = 1000;
  static void Count(absl::flat_hash_map<std::string, uint64_t>& tally, std::string_view name) {
    // absl::string_view: Debian's Abseil is built with its own string_view type.
    auto it = tally.find(absl::string_view(name.data(), name.size()));
    if (it != tally.end()) [[likely]] ++it->second;
    else if (tally.size() < kMaxTallied) tally.emplace(std::string(name), 1);
  }
  void CountUnknown() {
    for (std::string_view k : unknown) Count(unknown_fields, k);
  }

  std::vector<std::string_view> unknown;  // keys of the last record not in its format
  absl::flat_hash_map<std::string, uint64_t> unknown_fields;
  absl::flat_hash_map<std::string, uint64_t> nonstandard_types;
};

JsonParser::JsonParser(const ImportConfig& limits) : impl_(std::make_unique<Impl>(limits)) {}
JsonParser::~JsonParser() = default;

Status JsonParser::ParseEvent(std::string_view line, size_t readable_after, Event* out) {
  // Field by field rather than `*out = Event{}`: the importer reuses its records, and cleared
  // strings keep their capacity.
  out->user.clear();
  out->item.clear();
  out->type.clear();
  out->ts = Timestamp();
  out->value.reset();
  out->id.clear();
  out->request_id.clear();
  out->context.clear();
  FieldSet<8> fields{{"user", "item", "type", "ts", "value", "id", "request_id", "context"}, 4};
  Status s = impl_->ParseObject(line, readable_after, fields,
                            [&](size_t idx, std::string_view key, dom::element v) -> Status {
    switch (idx) {
      case 0: return impl_->ReadId(key, v, &out->user);
      case 1: return impl_->ReadId(key, v, &out->item);
      case 2: {
        FUNNEL_RETURN_IF_ERROR(impl_->ReadString(key, v, &out->type));
        bool has_upper = false;
        if (!ValidTypeName(out->type, &has_upper))
          return FieldError(key, Cat("'", out->type, "' is not a valid type: use 1 to 64 of [A-Za-z0-9_.-]"));
        if (has_upper) [[unlikely]]
          if (const char* standard = StandardTypeIgnoringCase(out->type)) out->type = standard;
        return absl::OkStatus();
      }
      case 3: return Impl::ReadTimestamp(key, v, &out->ts);
      case 4: {
        double value = 0;
        FUNNEL_RETURN_IF_ERROR(Impl::ReadNumber(key, v, &value));
        out->value = value;
        return absl::OkStatus();
      }
      case 5: return impl_->ReadId(key, v, &out->id);
      case 6: return impl_->ReadId(key, v, &out->request_id);
      default: return impl_->ReadObject(key, v, &out->context);
    }
  }, Impl::NoCheck{});
  if (!s.ok()) return s;
  if (!IsStandardType(out->type)) [[unlikely]] Impl::Count(impl_->nonstandard_types, out->type);
  if (!impl_->unknown.empty()) [[unlikely]] impl_->CountUnknown();
  return s;
}

Status JsonParser::ParseItem(std::string_view line, size_t readable_after, Item* out) {
  *out = Item{};
  out->fields = 0;
  FieldSet<5> fields{{"item", "ts", "categories", "creator", "attributes"}, 1};
  constexpr uint8_t kBits[5] = {0, kFieldTs, kFieldCategories, kFieldCreator, kFieldAttributes};
  Status s = impl_->ParseObject(line, readable_after, fields,
                                [&](size_t idx, std::string_view key, dom::element v) -> Status {
    switch (idx) {
      case 0: return impl_->ReadId(key, v, &out->item);
      case 1: {
        Timestamp ts;
        FUNNEL_RETURN_IF_ERROR(Impl::ReadTimestamp(key, v, &ts));
        out->ts = ts;
        return absl::OkStatus();
      }
      case 2: return impl_->ReadCategories(key, v, &out->categories);
      case 3: return impl_->ReadId(key, v, &out->creator);
      default: return impl_->ReadObject(key, v, &out->attributes);
    }
  }, [&](const FieldSet<5>& f) {
    return impl_->LooksLikeEvent("user", f.seen[2] || f.seen[3] || f.seen[4]);
  });
  if (!s.ok()) return s;
  // A field present with null keeps its empty value and sets its bit: it clears the stored one.
  for (size_t i = 1; i < 5; ++i)
    if (fields.seen[i]) out->fields |= kBits[i];
  impl_->CountUnknown();
  return s;
}

Status JsonParser::ParseUser(std::string_view line, size_t readable_after, User* out) {
  *out = User{};
  out->fields = 0;
  FieldSet<2> fields{{"user", "attributes"}, 1};
  Status s = impl_->ParseObject(line, readable_after, fields,
                                [&](size_t idx, std::string_view key, dom::element v) -> Status {
    if (idx == 0) return impl_->ReadId(key, v, &out->user);
    return impl_->ReadObject(key, v, &out->attributes);
  }, [&](const FieldSet<2>& f) { return impl_->LooksLikeEvent("item", f.seen[1]); });
  if (!s.ok()) return s;
  if (fields.seen[1]) out->fields |= kFieldAttributes;
  impl_->CountUnknown();
  return s;
}

namespace {

std::vector<std::pair<std::string, uint64_t>> ByCount(const absl::flat_hash_map<std::string, uint64_t>& m) {
  std::vector<std::pair<std::string, uint64_t>> v(m.begin(), m.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return v;
}

}  // namespace

std::vector<std::pair<std::string, uint64_t>> JsonParser::UnknownFields() const {
  return ByCount(impl_->unknown_fields);
}
std::vector<std::pair<std::string, uint64_t>> JsonParser::NonstandardTypes() const {
  return ByCount(impl_->nonstandard_types);
}

Status JsonParser::ParseEventCopy(std::string_view line, Event* out) { return ParseEvent(line, 0, out); }
Status JsonParser::ParseItemCopy(std::string_view line, Item* out) { return ParseItem(line, 0, out); }
Status JsonParser::ParseUserCopy(std::string_view line, User* out) { return ParseUser(line, 0, out); }

namespace {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

std::string_view JsonParser::SuggestField(std::string_view unknown, RecordKind kind) {
  static constexpr std::string_view kEventFields[] = {"user", "item", "type", "ts", "value", "id", "request_id", "context"};
  static constexpr std::string_view kItemFields[] = {"item", "ts", "categories", "creator", "attributes"};
  static constexpr std::string_view kUserFields[] = {"user", "attributes"};
  using Fields = std::span<const std::string_view>;
  Fields known = kind == RecordKind::kEvent ? Fields(kEventFields)
                 : kind == RecordKind::kItem ? Fields(kItemFields)
                                             : Fields(kUserFields);
  // The names other formats and SQL exports use for the same things; edit distance would not
  // find these (timestamp is far from ts).
  static constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
      {"timestamp", "ts"},  {"time", "ts"},          {"date", "ts"},         {"datetime", "ts"},
      {"created_at", "ts"}, {"event_time", "ts"},    {"created", "ts"},      {"user_id", "user"},
      {"userid", "user"},   {"uid", "user"},         {"item_id", "item"},    {"itemid", "item"},
      {"iid", "item"},      {"product_id", "item"},  {"video_id", "item"},   {"movie_id", "item"},
      {"event", "type"},    {"event_type", "type"},  {"eventtype", "type"},  {"action", "type"},
      {"category", "categories"}, {"genre", "categories"}, {"genres", "categories"},
      {"tags", "categories"}, {"author", "creator"}, {"owner", "creator"}, {"channel", "creator"},
      {"attrs", "attributes"}, {"attribute", "attributes"}, {"properties", "attributes"},
      {"metadata", "attributes"}, {"event_id", "id"}, {"requestid", "request_id"},
      {"rating", "value"},  {"score", "value"},      {"ctx", "context"},
  };
  const std::string lower = Lower(unknown);
  auto is_known = [&](std::string_view f) { return std::find(known.begin(), known.end(), f) != known.end(); };
  if (is_known(lower)) return *std::find(known.begin(), known.end(), lower);  // "User", "TS"
  std::string squashed;  // "userId" -> "userid", "event-type" -> "eventtype"
  for (char c : lower)
    if (c != '_' && c != '-') squashed.push_back(c);
  for (const auto& [alias, field] : kAliases)
    if ((alias == lower || alias == squashed) && is_known(field)) return field;
  // A typo: one edit for short names (two-letter ones all lie two apart), two for longer.
  std::string_view best;
  size_t best_distance = SIZE_MAX;
  for (std::string_view f : known) {
    size_t limit = f.size() <= 4 ? 1 : 2;
    size_t d = EditDistance(lower, f);
    if (d <= limit && d < best_distance) {
      best = f;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace funnel::events
