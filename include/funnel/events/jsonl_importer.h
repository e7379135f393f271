// Imports JSON Lines files of events, items or users into a RecordSink (the event store).
// Good records land even when others in the same file are rejected; every rejected record is
// reported with its source, line number, field and reason. Parsing the next batch overlaps
// with the durable commit of the previous one.
//
//   ImportOptions opt;  opt.rejects_path = "rejects.jsonl";
//   FUNNEL_ASSIGN_OR_RETURN(ImportReport r,
//                           ImportJsonLines("events.jsonl", RecordKind::kEvent, *store, cfg.import, opt));
// Thread-safety: ImportJsonLines is reentrant; the sink it writes to sets its own rules.
#pragma once

#include <string>

#include "funnel/core/config.h"
#include "funnel/events/import_report.h"
#include "funnel/events/record_sink.h"

namespace funnel::events {

// `path` is a file, or "-" for standard input. Fails only when the input cannot be read or the
// sink fails; bad records are counted in the report, not errors.
StatusOr<ImportReport> ImportJsonLines(const std::string& path, RecordKind kind, RecordSink& sink,
                                       const ImportConfig& limits, const ImportOptions& options);

}  // namespace funnel::events
