// JSON Merge Patch (RFC 7396) of two JSON objects held as text, for the `attributes` of item and
// user upserts: a key of the patch replaces the target's, a null deletes it, and an object
// merges into the target's object of the same key recursively.
//
//   MergePatch(R"({"a":1,"b":{"c":2}})", R"({"a":null,"b":{"d":3}})")  ==  R"({"b":{"c":2,"d":3}})"
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace funnel {

// The target after applying the patch, minified by JsonWriter's rules (docs/formats/json.md).
// Both are JSON object texts; an empty or unparsable target counts as {} and an unparsable
// patch leaves the target as it is (callers pass text a JSON parser has already validated).
// Returns "" when the result is the empty object, which callers store as "no attributes".
std::string MergePatch(std::string_view target, std::string_view patch);

}  // namespace funnel
