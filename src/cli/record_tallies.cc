#include "cli/record_tallies.h"

#include <string>

#include <fmt/format.h>

#include "cli/format.h"
#include "funnel/events/event.h"

namespace funnel::cli {

namespace {

// Names with counts, most frequent first, the first `shown` of them ("lkie 3, wishlist 12").
std::string CountList(const std::vector<events::NameCount>& names, bool with_hints) {
  constexpr size_t kShown = 10;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) {
    const events::NameCount& n = names[i];
    if (i > 0) out += ", ";
    out += fmt::format("{} {}", n.name, WithCommas(n.count));
    if (with_hints && !n.hint.empty()) out += fmt::format(" (did you mean {}?)", n.hint);
  }
  if (names.size() > kShown) out += fmt::format(", and {} more", names.size() - kShown);
  return out;
}

}  // namespace

void PrintRecordTallies(const std::vector<events::NameCount>& nonstandard_types,
                        const std::vector<events::NameCount>& unknown_fields, std::ostream& out) {
  // Stored as written, so a typo'd type ("lkie") becomes a type of its own: show it.
  if (!nonstandard_types.empty()) {
    std::string standard;
    for (const char* t : events::kStandardTypes) standard += standard.empty() ? t : fmt::format(", {}", t);
    out << "  non-standard types: " << CountList(nonstandard_types, false) << " (standard: " << standard << ")\n";
  }
  if (!unknown_fields.empty()) out << "  unknown fields, ignored: " << CountList(unknown_fields, true) << "\n";
}

}  // namespace funnel::cli
