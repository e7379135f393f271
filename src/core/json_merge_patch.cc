#include "funnel/core/json_merge_patch.h"

#include <rapidjson/document.h>

#include "funnel/core/json_writer.h"

namespace funnel {

namespace {

using rapidjson::Document;
using rapidjson::Value;

// Full precision so an untouched double reads back as the same double it was written as.
constexpr unsigned kParseFlags = rapidjson::kParseFullPrecisionFlag;

bool ParseObject(std::string_view text, Document* doc) {
  if (text.empty()) return false;
  doc->Parse<kParseFlags>(text.data(), text.size());
  return !doc->HasParseError() && doc->IsObject();
}

// RFC 7396 section 2, MergePatch(Target, Patch), for an object patch.
void Merge(Value& target, const Value& patch, Document::AllocatorType& alloc) {
  if (!target.IsObject()) target.SetObject();
  for (auto m = patch.MemberBegin(); m != patch.MemberEnd(); ++m) {
    auto existing = target.FindMember(m->name);
    if (m->value.IsNull()) {
      if (existing != target.MemberEnd()) target.EraseMember(existing);
      continue;
    }
    if (m->value.IsObject()) {
      if (existing == target.MemberEnd()) {
        Value key(m->name, alloc);
        Value fresh(rapidjson::kObjectType);
        target.AddMember(key, fresh, alloc);
        existing = target.FindMember(m->name);
      }
      Merge(existing->value, m->value, alloc);
      continue;
    }
    Value copy(m->value, alloc);
    if (existing != target.MemberEnd()) {
      existing->value = copy;
    } else {
      Value key(m->name, alloc);
      target.AddMember(key, copy, alloc);
    }
  }
}

void Write(const Value& v, JsonWriter& w) {
  switch (v.GetType()) {
    case rapidjson::kNullType: w.Null(); return;
    case rapidjson::kFalseType: w.Bool(false); return;
    case rapidjson::kTrueType: w.Bool(true); return;
    case rapidjson::kStringType: w.String({v.GetString(), v.GetStringLength()}); return;
    case rapidjson::kNumberType:
      if (v.IsInt64()) w.Int(v.GetInt64());
      else if (v.IsUint64()) w.Uint(v.GetUint64());
      else w.Double(v.GetDouble());
      return;
    case rapidjson::kArrayType:
      w.StartArray();
      for (const Value& e : v.GetArray()) Write(e, w);
      w.EndArray();
      return;
    case rapidjson::kObjectType:
      w.StartObject();
      for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
        w.Key({m->name.GetString(), m->name.GetStringLength()});
        Write(m->value, w);
      }
      w.EndObject();
      return;
  }
}

}  // namespace

std::string MergePatch(std::string_view target, std::string_view patch) {
  Document patch_doc;
  if (!ParseObject(patch, &patch_doc)) return std::string(target);
  Document doc;
  if (!ParseObject(target, &doc)) doc.SetObject();
  Merge(doc, patch_doc, doc.GetAllocator());
  if (doc.MemberCount() == 0) return std::string();
  JsonWriter w;
  Write(doc, w);
  return std::string(w.text());
}

}  // namespace funnel
