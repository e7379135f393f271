// Imports a MovieLens data set directory, detecting its layout by the ratings file present:
//   ml-100k             u.data (tab-separated user item rating ts), u.item ('|'), u.user ('|'),
//                       u.genre (genre names of u.item's flags; the standard 19 when absent)
//   ml-1m / ml-10m      ratings.dat, movies.dat, users.dat (ml-1m), tags.dat (ml-10m), '::'-separated
//   ml-latest / 20m/25m ratings.csv, movies.csv, tags.csv, each with its header line checked
// The ratings and movies files are required; users and tags are imported when present.
//
// Mapping:
//  - ratings -> `rating` events, value = stars, id = "ml:<user>:<item>:<ts>", so a re-import
//    stores nothing twice;
//  - tags -> `tag` events, context {"tag":"..."}, id = "ml-tag:<user>:<item>:<ts>:<hash of tag>";
//  - movies -> items: categories = genres as the data set spells them ("Comedy"; the no-genre
//    markers "(no genres listed)" and ml-100k's "unknown" are skipped), attributes
//    {"title":"Toy Story (1995)","year":1995} (year from the last "(YYYY)" of the title), plus
//    "release_date" (ISO) and "imdb_url" for ml-100k. Item `ts` stays absent: MovieLens has no
//    catalog time, and a release date is not one;
//  - users -> attributes {"age":24,"gender":"M","occupation":"technician","zip":"85711"}
//    (ml-1m: age bracket and occupation code, kept as the numbers given).
// Text that is not valid UTF-8 (u.item and ml-1m movies.dat are Latin-1) is decoded as Latin-1.
//
// Files are streamed (never loaded whole) in this order: movies, users, ratings, tags, each
// committed in batches of options.batch_size; options.on_commit(file name, last line, report so
// far across files) runs after each durable batch. A bad line is rejected as
// "u.data:17: field 3 (rating): expected a number, got \"x\"" (counted, kept in first_errors,
// written to options.rejects_path) and the other lines still land. A CSV header that does not
// match fails the import before anything is stored.
//
// The report merges every file (source = the directory). `accepted` and `duplicates` count
// events only: items and users are upserts, stored again harmlessly on a re-import, so a second
// import reports 0 accepted and every rating and tag as a duplicate. `lines` and `rejected`
// cover all files.
//
//   FUNNEL_ASSIGN_OR_RETURN(ImportReport r, ImportMovieLens("ml-100k", *store, ImportOptions{}));
//
// Thread-safety: the functions may run concurrently on different sinks; `sink` must accept
// calls from a background thread (one at a time).
#pragma once

#include <string>

#include "funnel/events/import_report.h"
#include "funnel/events/record_sink.h"

namespace funnel::events {

enum class MovieLensLayout { k100k, k1m10m, kLatest };

// Which layout `dir` holds, or NotFound naming the files looked for.
StatusOr<MovieLensLayout> DetectMovieLensLayout(const std::string& dir);

// Fails when no layout is found, a required file is missing, a CSV header is wrong, a file
// cannot be read or the sink fails; bad lines are counted in the report, not errors.
StatusOr<ImportReport> ImportMovieLens(const std::string& dir, RecordSink& sink,
                                       const ImportOptions& options);

}  // namespace funnel::events
