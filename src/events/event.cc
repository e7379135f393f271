#include "funnel/events/event.h"

#include <bit>
#include <cstring>

#include "funnel/core/hash.h"
#include "funnel/core/json_merge_patch.h"

namespace funnel::events {

namespace {
void AppendField(std::string& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);  // length-prefixed: no separator ambiguity
  out.append(s);
}
}  // namespace

void Event::DedupeKeyTo(char out[kDedupeKeyBytes]) const {
  // Reused per thread: the importer computes a key per event and a fresh string would cost an
  // allocation each time.
  thread_local std::string canon;
  canon.clear();
  if (!id.empty()) {
    canon.push_back('i');
    canon.append(id);
  } else {
    canon.push_back('c');
    AppendField(canon, user);
    AppendField(canon, item);
    AppendField(canon, type);
    int64_t micros = ts.micros();
    canon.append(reinterpret_cast<const char*>(&micros), sizeof micros);
    uint64_t value_bits = value ? std::bit_cast<uint64_t>(*value) : ~uint64_t{0};
    canon.push_back(value ? 1 : 0);
    canon.append(reinterpret_cast<const char*>(&value_bits), sizeof value_bits);
    AppendField(canon, request_id);
    AppendField(canon, context);
  }
  Hash128 h = StableHash128(canon);
  std::memcpy(out, &h.low, 8);
  std::memcpy(out + 8, &h.high, 8);
}

std::string Event::DedupeKey() const {
  std::string key(kDedupeKeyBytes, '\0');
  DedupeKeyTo(key.data());
  return key;
}

namespace {

// `attributes` after a patch: RFC 7396 merge, with a null patch (empty text) clearing them.
void PatchAttributes(const std::string& patch, std::string* stored) {
  if (patch.empty()) {
    stored->clear();
    return;
  }
  // Nothing to merge into and no null to drop: the patch is the result, byte for byte (the
  // common case of a first import, which then keeps the producer's number spelling).
  if (stored->empty() && patch.find("null") == std::string::npos) {
    *stored = patch == "{}" ? std::string() : patch;
    return;
  }
  *stored = MergePatch(*stored, patch);
}

}  // namespace

void ApplyPatch(const Item& patch, Item* stored) {
  if (patch.fields & kFieldTs) stored->ts = patch.ts;
  if (patch.fields & kFieldCategories) stored->categories = patch.categories;
  if (patch.fields & kFieldCreator) stored->creator = patch.creator;
  if (patch.fields & kFieldAttributes) PatchAttributes(patch.attributes, &stored->attributes);
  stored->fields = kAllItemFields;
}

void ApplyPatch(const User& patch, User* stored) {
  if (patch.fields & kFieldAttributes) PatchAttributes(patch.attributes, &stored->attributes);
  stored->fields = kAllUserFields;
}

bool IsStandardType(std::string_view t) {
  // By length first: most lengths have one candidate, so this is one memcmp per event.
  auto is = [&](std::string_view s) { return t == s; };
  switch (t.size()) {
    case 4: return is("view") || is("like") || is("skip");
    case 5: return is("click") || is("watch") || is("share");
    case 6: return is("rating");
    case 7: return is("dislike");
    case 8: return is("purchase");
    case 10: return is("impression");
    case 11: return is("add_to_cart");
    default: return false;
  }
}

const char* StandardTypeIgnoringCase(std::string_view type) {
  for (const char* s : kStandardTypes) {
    std::string_view std_type(s);
    if (std_type.size() != type.size()) continue;
    bool same = true;
    for (size_t i = 0; i < type.size() && same; ++i) {
      char c = type[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      same = c == std_type[i];
    }
    if (same) return s;
  }
  return nullptr;
}

}  // namespace funnel::events
