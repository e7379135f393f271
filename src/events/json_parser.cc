#include "funnel/events/json_parser.h"

#include <array>
#include <string>
#include <vector>

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

bool ValidTypeName(std::string_view t) {
  if (t.empty() || t.size() > 64) return false;
  for (char c : t) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The fields a record may have; the first `required` of them must be present.
template <size_t N>
struct FieldSet {
  std::array<std::string_view, N> names;
  size_t required;
  std::array<bool, N> seen{};

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

  // Parses `line` as one JSON object and calls fn(index, key, value) for each known field;
  // null values count as absent.
  template <size_t N, typename Fn>
  Status ParseObject(std::string_view line, size_t readable_after, FieldSet<N>& fields, Fn&& fn) {
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
    for (dom::key_value_pair kv : obj) {
      size_t idx = fields.Find(kv.key);
      if (idx == N) continue;  // unknown fields are ignored so producers may add their own
      if (fields.seen[idx])
        return absl::InvalidArgumentError(Cat("duplicate field \"", kv.key, "\""));
      if (kv.value.is_null()) continue;
      fields.seen[idx] = true;
      FUNNEL_RETURN_IF_ERROR(fn(idx, kv.key, kv.value));
    }
    for (size_t i = 0; i < fields.required; ++i)
      if (!fields.seen[i])
        return absl::InvalidArgumentError(Cat("missing required field \"", fields.names[i], "\""));
    return absl::OkStatus();
  }
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
  return impl_->ParseObject(line, readable_after, fields,
                            [&](size_t idx, std::string_view key, dom::element v) -> Status {
    switch (idx) {
      case 0: return impl_->ReadString(key, v, &out->user);
      case 1: return impl_->ReadString(key, v, &out->item);
      case 2:
        FUNNEL_RETURN_IF_ERROR(impl_->ReadString(key, v, &out->type));
        if (!ValidTypeName(out->type))
          return FieldError(key, Cat("'", out->type, "' is not a valid type: use 1 to 64 of [A-Za-z0-9_.-]"));
        return absl::OkStatus();
      case 3: return Impl::ReadTimestamp(key, v, &out->ts);
      case 4: {
        double value = 0;
        FUNNEL_RETURN_IF_ERROR(Impl::ReadNumber(key, v, &value));
        out->value = value;
        return absl::OkStatus();
      }
      case 5: return impl_->ReadString(key, v, &out->id);
      case 6: return impl_->ReadString(key, v, &out->request_id);
      default: return impl_->ReadObject(key, v, &out->context);
    }
  });
}

Status JsonParser::ParseItem(std::string_view line, size_t readable_after, Item* out) {
  *out = Item{};
  FieldSet<5> fields{{"item", "ts", "categories", "creator", "attributes"}, 1};
  return impl_->ParseObject(line, readable_after, fields,
                            [&](size_t idx, std::string_view key, dom::element v) -> Status {
    switch (idx) {
      case 0: return impl_->ReadString(key, v, &out->item);
      case 1: {
        Timestamp ts;
        FUNNEL_RETURN_IF_ERROR(Impl::ReadTimestamp(key, v, &ts));
        out->ts = ts;
        return absl::OkStatus();
      }
      case 2: return impl_->ReadCategories(key, v, &out->categories);
      case 3: return impl_->ReadString(key, v, &out->creator);
      default: return impl_->ReadObject(key, v, &out->attributes);
    }
  });
}

Status JsonParser::ParseUser(std::string_view line, size_t readable_after, User* out) {
  *out = User{};
  FieldSet<2> fields{{"user", "attributes"}, 1};
  return impl_->ParseObject(line, readable_after, fields,
                            [&](size_t idx, std::string_view key, dom::element v) -> Status {
    if (idx == 0) return impl_->ReadString(key, v, &out->user);
    return impl_->ReadObject(key, v, &out->attributes);
  });
}

Status JsonParser::ParseEventCopy(std::string_view line, Event* out) { return ParseEvent(line, 0, out); }
Status JsonParser::ParseItemCopy(std::string_view line, Item* out) { return ParseItem(line, 0, out); }

}  // namespace funnel::events
