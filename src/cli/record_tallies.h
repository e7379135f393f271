// The part of an import or ingest summary that makes a silent typo visible: the non-standard
// event types stored and the unknown fields ignored, with counts and hints. Shared by
// `funnel import` and `funnel ingest kafka`, which print the same lines.
#pragma once

#include <ostream>
#include <vector>

#include "funnel/events/import_report.h"

namespace funnel::cli {

// "  non-standard types: lkie 3 (standard: ...)" and "  unknown fields, ignored: category 2
// (did you mean categories?)"; nothing for empty lists.
void PrintRecordTallies(const std::vector<events::NameCount>& nonstandard_types,
                        const std::vector<events::NameCount>& unknown_fields, std::ostream& out);

}  // namespace funnel::cli
