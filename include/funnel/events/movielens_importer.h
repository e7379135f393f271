// Imports a MovieLens data set directory, detecting its layout:
//   ml-100k            u.data (tab-separated user item rating ts), u.item ('|'), u.user ('|')
//   ml-1m / ml-10m     ratings.dat, movies.dat, users.dat (ml-1m only), '::'-separated
//   ml-latest / 20m/25m ratings.csv, movies.csv, tags.csv, with a header line
// Ratings become `rating` events (value = stars, id = "ml:<user>:<item>:<ts>" so a re-import is
// idempotent); movies become items (genres -> categories; title and year -> attributes);
// demographics become user attributes; tags become `tag` events with the tag in context.
#pragma once

#include <string>

#include "funnel/events/import_report.h"
#include "funnel/events/record_sink.h"

namespace funnel::events {

enum class MovieLensLayout { k100k, k1m10m, kLatest };

// Which layout `dir` holds, or NotFound naming the files looked for.
StatusOr<MovieLensLayout> DetectMovieLensLayout(const std::string& dir);

StatusOr<ImportReport> ImportMovieLens(const std::string& dir, RecordSink& sink,
                                       const ImportOptions& options);

}  // namespace funnel::events
