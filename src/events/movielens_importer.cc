#include "funnel/events/movielens_importer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "events/movielens_text.h"
#include "funnel/core/hash.h"

namespace funnel::events {

namespace {

namespace fs = std::filesystem;
using movielens::AppendDecimal;
using movielens::AppendUtf8;
using movielens::CsvSplitter;
using movielens::JsonObjectBuilder;
using movielens::LineReader;
using movielens::Quoted;
using movielens::SplitFields;

// u.item's genre flag order, for an ml-100k directory without u.genre.
constexpr const char* kStandardGenres100k[] = {
    "unknown", "Action",   "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama", "Fantasy",  "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance", "Sci-Fi",   "Thriller",  "War",       "Western"};

// Labels that mean "no genre" (ml-latest's "(no genres listed)", ml-100k's "unknown" flag):
// they are not categories.
bool IsNoGenre(std::string_view g) { return g == "(no genres listed)" || g == "unknown"; }

constexpr std::string_view kRatingsCsvHeader = "userId,movieId,rating,timestamp";
constexpr std::string_view kMoviesCsvHeader = "movieId,title,genres";
constexpr std::string_view kTagsCsvHeader = "userId,movieId,tag,timestamp";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

Status Bad(std::string message) { return absl::InvalidArgumentError(message); }

// `field 3 (rating): expected a number, got "x"` (fields are numbered from 1).
Status FieldError(size_t index, std::string_view name, std::string_view expected,
                  std::string_view got) {
  return Bad(Cat("field ", index, " (", name, "): expected ", expected, ", got ", Quoted(got)));
}

Status FieldCountError(size_t want, std::string_view separator, size_t got,
                       std::string_view note = "") {
  return Bad(Cat("expected ", want, " ", separator, "-separated fields", note, ", got ", got));
}

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// A user or movie id: digits, stored without leading zeros so every file spells it alike.
Status ParseId(std::string_view text, size_t index, std::string_view name, std::string* out) {
  uint64_t v = 0;
  if (!movielens::ParseUint(text, &v)) return FieldError(index, name, "a non-negative integer", text);
  size_t zeros = text.find_first_not_of('0');
  out->assign(zeros == std::string_view::npos ? std::string_view("0") : text.substr(zeros));
  return absl::OkStatus();
}

Status ParseUnixSeconds(std::string_view text, size_t index, int64_t* out) {
  if (!movielens::ParseInt(text, out)) return FieldError(index, "timestamp", "Unix seconds", text);
  if (!Timestamp::IsRepresentableSeconds(static_cast<double>(*out)))
    return FieldError(index, "timestamp", "Unix seconds from 1970 to 2200", text);
  return absl::OkStatus();
}

// The parts ratings and tags share: field 1 (user id), 2 (movie id), 4 (timestamp).
Status ParseUserAndItem(std::string_view user, std::string_view item, Event* e) {
  FUNNEL_RETURN_IF_ERROR(ParseId(user, 1, "user id", &e->user));
  return ParseId(item, 2, "movie id", &e->item);
}

Status ParseTime(std::string_view ts, Event* e, int64_t* secs) {
  FUNNEL_RETURN_IF_ERROR(ParseUnixSeconds(ts, 4, secs));
  e->ts = Timestamp::FromMicros(*secs * 1000000);
  return absl::OkStatus();
}

// "ml:<user>:<item>:<ts>" (ratings) or "ml-tag:<user>:<item>:<ts>" (tags, before the hash).
void SetId(std::string_view prefix, int64_t secs, Event* e) {
  e->id.assign(prefix);
  e->id += e->user;
  e->id += ':';
  e->id += e->item;
  e->id += ':';
  AppendDecimal(e->id, secs);
}

// A rating -> {user, item, type "rating", ts, value = stars, id "ml:<user>:<item>:<ts>"}.
Status MakeRating(std::string_view user, std::string_view item, std::string_view rating,
                  std::string_view ts, Event* e) {
  FUNNEL_RETURN_IF_ERROR(ParseUserAndItem(user, item, e));
  double stars = 0;
  if (!movielens::ParseDouble(rating, &stars)) return FieldError(3, "rating", "a number", rating);
  if (stars < 0 || stars > 5) return FieldError(3, "rating", "a number from 0 to 5", rating);
  int64_t secs = 0;
  FUNNEL_RETURN_IF_ERROR(ParseTime(ts, e, &secs));
  e->type.assign("rating");
  e->value = stars;
  e->request_id.clear();
  e->context.clear();
  SetId("ml:", secs, e);
  return absl::OkStatus();
}

// A tag -> {type "tag", context {"tag": ...}, id "ml-tag:<user>:<item>:<ts>:<hash of the tag>"}.
// The hash (not the line number) keeps the id stable when the file is re-sorted or grows, and
// tells apart several tags a user gave one movie in the same second.
Status MakeTag(std::string_view user, std::string_view item, std::string_view tag,
               std::string_view ts, Event* e) {
  FUNNEL_RETURN_IF_ERROR(ParseUserAndItem(user, item, e));
  if (IsBlank(tag)) return FieldError(3, "tag", "a tag", tag);
  int64_t secs = 0;
  FUNNEL_RETURN_IF_ERROR(ParseTime(ts, e, &secs));
  e->type.assign("tag");
  e->value.reset();
  e->request_id.clear();
  JsonObjectBuilder context(&e->context);
  context.String("tag", tag);
  context.Finish();
  std::string utf8;
  AppendUtf8(utf8, tag);
  SetId("ml-tag:", secs, e);
  e->id += fmt::format(":{:016x}", StableHash64(utf8));
  return absl::OkStatus();
}

// Resets an item and sets its id; MovieLens gives no creation time, so `ts` stays absent.
Status StartItem(std::string_view id, Item* it) {
  FUNNEL_RETURN_IF_ERROR(ParseId(id, 1, "movie id", &it->item));
  it->ts.reset();
  it->categories.clear();
  it->creator.clear();
  return absl::OkStatus();
}

void AddTitle(JsonObjectBuilder& attributes, std::string_view title) {
  title = Trim(title);
  if (title.empty()) return;
  attributes.String("title", title);
  if (std::optional<int> year = movielens::YearOfTitle(title)) attributes.Int("year", *year);
}

// "Comedy|Drama" -> categories, as the data set spells them.
void AddGenres(std::string_view genres, Item* it) {
  std::string_view parts[64];
  size_t n = std::min(SplitFields(genres, "|", parts), std::size(parts));
  for (size_t i = 0; i < n; ++i) {
    std::string_view g = Trim(parts[i]);
    if (g.empty() || IsNoGenre(g)) continue;
    it->categories.emplace_back();
    AppendUtf8(it->categories.back(), g);
  }
}

// ml-1m / ml-10m movies.dat and ml-latest movies.csv: movie id, title, genres.
Status MakeMovie(std::string_view id, std::string_view title, std::string_view genres, Item* it) {
  FUNNEL_RETURN_IF_ERROR(StartItem(id, it));
  JsonObjectBuilder attributes(&it->attributes);
  AddTitle(attributes, title);
  attributes.Finish();
  AddGenres(genres, it);
  return absl::OkStatus();
}

// ml-100k u.item: id | title | release date | video release date | IMDb URL | genre flags...
// The release date goes to attributes ("release_date", ISO), not to the item's `ts`: it is
// when the film came out, not when it joined the catalog, and using it would make features
// treat every film as years old at its first rating (and unknown dates would be missing).
Status MakeItem100k(std::string_view line, const std::vector<std::string>& genres,
                    std::vector<std::string_view>& f, Item* it) {
  const size_t want = 5 + genres.size();
  size_t n = SplitFields(line, "|", f);
  if (n != want)
    return FieldCountError(want, "'|'", n, Cat(" (5 + ", genres.size(), " genre flags)"));
  FUNNEL_RETURN_IF_ERROR(StartItem(f[0], it));
  std::optional<std::string> release;
  if (!f[2].empty()) {
    release = movielens::IsoDateOfDayMonYear(f[2]);
    if (!release) return FieldError(3, "release date", "a date like 01-Jan-1995", f[2]);
  }
  for (size_t g = 0; g < genres.size(); ++g) {
    std::string_view flag = f[5 + g];
    if (flag != "0" && flag != "1")
      return FieldError(6 + g, Cat("genre flag ", genres[g]), "0 or 1", flag);
    if (flag == "1" && !IsNoGenre(genres[g])) it->categories.push_back(genres[g]);
  }
  JsonObjectBuilder attributes(&it->attributes);
  AddTitle(attributes, f[1]);
  if (release) attributes.String("release_date", *release);
  if (!Trim(f[4]).empty()) attributes.String("imdb_url", Trim(f[4]));
  attributes.Finish();
  return absl::OkStatus();
}

// Users: {"age":24,"gender":"M","occupation":"technician","zip":"85711"}. ml-100k gives the age
// in years and the occupation by name; ml-1m gives an age bracket (1 = under 18, 18 = 18-24,
// ...) and an occupation code (0-20), kept as the numbers they are.
struct UserFields {
  std::string_view id, age, gender, occupation, zip;
  size_t age_index, gender_index, occupation_index;
  bool occupation_is_code;
};

Status MakeUser(const UserFields& f, User* u) {
  FUNNEL_RETURN_IF_ERROR(ParseId(f.id, 1, "user id", &u->user));
  uint64_t age = 0;
  if (!movielens::ParseUint(f.age, &age) || age > 150)
    return FieldError(f.age_index, "age", "an age from 0 to 150", f.age);
  if (IsBlank(f.gender)) return FieldError(f.gender_index, "gender", "M or F", f.gender);
  JsonObjectBuilder attributes(&u->attributes);
  attributes.Int("age", static_cast<int64_t>(age));
  attributes.String("gender", Trim(f.gender));
  if (f.occupation_is_code) {
    uint64_t code = 0;
    if (!movielens::ParseUint(f.occupation, &code) || code > 1000)
      return FieldError(f.occupation_index, "occupation", "an occupation code", f.occupation);
    attributes.Int("occupation", static_cast<int64_t>(code));
  } else {
    if (IsBlank(f.occupation))
      return FieldError(f.occupation_index, "occupation", "an occupation", f.occupation);
    attributes.String("occupation", Trim(f.occupation));
  }
  if (!Trim(f.zip).empty()) attributes.String("zip", Trim(f.zip));
  attributes.Finish();
  return absl::OkStatus();
}

// --- Files --------------------------------------------------------------------------------

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

StatusOr<FilePtr> OpenFile(const std::string& path) {
  FilePtr f(std::fopen(path.c_str(), "rbe"));
  if (f == nullptr) return absl::NotFoundError(Cat("cannot open ", path, ": ", std::strerror(errno)));
  return f;
}

bool HasFile(const std::string& dir, std::string_view name) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / name, ec);
}

// Checks a CSV header up front, so a file with unexpected columns fails the import before
// anything is stored.
Status CheckHeader(const std::string& dir, const std::string& name, std::string_view header) {
  FUNNEL_ASSIGN_OR_RETURN(FilePtr f, OpenFile(dir + "/" + name));
  LineReader reader(f.get(), 64 << 10);
  std::string_view line;
  bool too_long = false;
  if (!reader.Next(&line, &too_long)) {
    if (reader.error() != 0)
      return absl::DataLossError(Cat(name, ": read error: ", std::strerror(reader.error())));
    return Bad(Cat(name, " is empty; expected the header line \"", header, "\""));
  }
  if (line.starts_with(kUtf8Bom)) line.remove_prefix(kUtf8Bom.size());
  if (too_long || line != header)
    return Bad(Cat(name, ":1: expected the header line \"", header, "\", got ", Quoted(line)));
  return absl::OkStatus();
}

// ml-100k genre names from u.genre ("name|index" lines), else the standard 19.
StatusOr<std::vector<std::string>> ReadGenres100k(const std::string& dir) {
  if (!HasFile(dir, "u.genre"))
    return std::vector<std::string>(std::begin(kStandardGenres100k), std::end(kStandardGenres100k));
  FUNNEL_ASSIGN_OR_RETURN(FilePtr f, OpenFile(dir + "/u.genre"));
  LineReader reader(f.get(), 64 << 10);
  std::vector<std::string> names;
  std::string_view line;
  bool too_long = false;
  while (reader.Next(&line, &too_long)) {
    if (!too_long && IsBlank(line)) continue;
    std::string_view parts[2];
    uint64_t index = 0;
    if (too_long || SplitFields(line, "|", parts) != 2 || Trim(parts[0]).empty() ||
        !movielens::ParseUint(parts[1], &index) || index >= 64)
      return Bad(Cat("u.genre:", reader.line_no(), ": expected \"name|index\" with an index below 64, got ",
                     Quoted(line)));
    if (names.size() <= index) names.resize(index + 1);
    if (!names[index].empty())
      return Bad(Cat("u.genre:", reader.line_no(), ": genre index ", index, " appears twice"));
    AppendUtf8(names[index], Trim(parts[0]));
  }
  if (reader.error() != 0)
    return absl::DataLossError(Cat("u.genre: read error: ", std::strerror(reader.error())));
  if (names.empty()) return Bad("u.genre lists no genres");
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i].empty()) return Bad(Cat("u.genre: no genre has index ", i));
  return names;
}

// State shared by the files of one import.
struct Run {
  std::string dir;
  RecordSink& sink;
  const ImportOptions& options;
  RejectLog& rejects;
  ImportReport total;  // the files imported so far
};

// Items and users are upserts: storing them again changes nothing, but the sink cannot tell
// new from replaced, so only events count as accepted or duplicate.
StatusOr<AppendResult> Store(RecordSink& sink, std::span<const Event> batch) { return sink.Append(batch); }
StatusOr<AppendResult> Store(RecordSink& sink, std::span<const Item> batch) {
  FUNNEL_RETURN_IF_ERROR(sink.UpsertItems(batch));
  return AppendResult{};
}
StatusOr<AppendResult> Store(RecordSink& sink, std::span<const User> batch) {
  FUNNEL_RETURN_IF_ERROR(sink.UpsertUsers(batch));
  return AppendResult{};
}

// Streams dir/name line by line: `parse(line, &record)` turns each non-blank line after the
// header into a record, bad lines are rejected as "name:line: message", good ones are stored
// in batches of options.batch_size. Parsing the next batch overlaps the durable commit of the
// previous one, as in the JSON Lines importer.
template <typename Record, typename Parse>
Status ImportFile(Run& run, const std::string& name, std::string_view header, Parse&& parse) {
  const auto start = std::chrono::steady_clock::now();
  FUNNEL_ASSIGN_OR_RETURN(FilePtr file, OpenFile(run.dir + "/" + name));
  struct stat st {};
  uint64_t total_bytes = fstat(fileno(file.get()), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;

  ImportReport report;
  report.source = name;
  LineReader reader(file.get());
  ProgressMeter progress(run.options.progress, name, total_bytes);
  const size_t batch_size = std::max<size_t>(1, run.options.batch_size);

  // Record slots are reused from batch to batch, so their strings keep their capacity.
  std::vector<Record> parsing, committing;
  size_t parsing_size = 0;
  uint64_t parsing_last_line = 0, pending_last_line = 0;
  // Declared after the buffers it reads, so it is waited for before they are destroyed.
  std::future<StatusOr<AppendResult>> pending;

  auto finish_pending = [&]() -> Status {
    if (!pending.valid()) return absl::OkStatus();
    StatusOr<AppendResult> r = pending.get();
    if (!r.ok()) return r.status();
    report.accepted += r->accepted;
    report.duplicates += r->duplicates;
    if (run.options.on_commit) {
      ImportReport so_far = run.total;
      so_far.Merge(report);
      so_far.source = run.dir;
      run.options.on_commit(name, pending_last_line, so_far);
    }
    return absl::OkStatus();
  };
  auto start_commit = [&]() -> Status {
    FUNNEL_RETURN_IF_ERROR(finish_pending());
    std::swap(parsing, committing);
    std::span<const Record> batch(committing.data(), parsing_size);
    parsing_size = 0;
    pending_last_line = parsing_last_line;
    pending = std::async(std::launch::async, [&sink = run.sink, batch] { return Store(sink, batch); });
    return absl::OkStatus();
  };

  std::string_view line;
  bool too_long = false;
  while (reader.Next(&line, &too_long)) {
    ++report.lines;
    if (too_long) {
      run.rejects.Add(report, name, reader.line_no(),
                      Cat("line is longer than the limit of ", LineReader::kMaxLine, " bytes"),
                      line.substr(0, 256), /*truncated=*/true);
      continue;
    }
    if (reader.line_no() == 1 && !header.empty()) {
      if (line.starts_with(kUtf8Bom)) line.remove_prefix(kUtf8Bom.size());
      if (line != header)
        return Bad(Cat(name, ":1: expected the header line \"", header, "\", got ", Quoted(line)));
      continue;
    }
    if (IsBlank(line)) continue;
    if (parsing_size == parsing.size()) parsing.emplace_back();
    if (Status s = parse(line, &parsing[parsing_size]); !s.ok()) {
      run.rejects.Add(report, name, reader.line_no(), MessageOf(s), line);
      continue;
    }
    ++parsing_size;
    parsing_last_line = reader.line_no();
    if (parsing_size >= batch_size) {
      FUNNEL_RETURN_IF_ERROR(start_commit());
      progress.Update(reader.bytes_read(), report.lines);
    }
  }
  if (reader.error() != 0)
    return absl::DataLossError(Cat(name, ": read error after line ", reader.line_no(), ": ",
                                   std::strerror(reader.error())));
  parsing_last_line = reader.line_no();
  if (parsing_size > 0) FUNNEL_RETURN_IF_ERROR(start_commit());
  FUNNEL_RETURN_IF_ERROR(finish_pending());
  FUNNEL_RETURN_IF_ERROR(run.sink.Flush());
  progress.Finish();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.total.Merge(report);
  return absl::OkStatus();
}

Status RequireFile(const std::string& dir, std::string_view name, std::string_view layout,
                   std::string_view found) {
  if (HasFile(dir, name)) return absl::OkStatus();
  return absl::NotFoundError(Cat(dir, " has ", found, " but no ", name, ": an ", layout,
                                 " directory needs both"));
}

// --- Layouts ------------------------------------------------------------------------------

Status Import100k(Run& run) {
  FUNNEL_RETURN_IF_ERROR(RequireFile(run.dir, "u.item", "ml-100k", "u.data"));
  FUNNEL_ASSIGN_OR_RETURN(std::vector<std::string> genres, ReadGenres100k(run.dir));
  std::vector<std::string_view> f(5 + genres.size() + 1);

  FUNNEL_RETURN_IF_ERROR(ImportFile<Item>(run, "u.item", "", [&](std::string_view line, Item* it) {
    return MakeItem100k(line, genres, f, it);
  }));
  if (HasFile(run.dir, "u.user")) {
    FUNNEL_RETURN_IF_ERROR(ImportFile<User>(run, "u.user", "", [&](std::string_view line, User* u) {
      size_t n = SplitFields(line, "|", f);
      if (n != 5) return FieldCountError(5, "'|'", n);
      return MakeUser({f[0], f[1], f[2], f[3], f[4], 2, 3, 4, false}, u);
    }));
  }
  return ImportFile<Event>(run, "u.data", "", [&](std::string_view line, Event* e) {
    size_t n = SplitFields(line, "\t", f);
    if (n != 4) return FieldCountError(4, "tab", n);
    return MakeRating(f[0], f[1], f[2], f[3], e);
  });
}

Status Import1m10m(Run& run) {
  FUNNEL_RETURN_IF_ERROR(RequireFile(run.dir, "movies.dat", "ml-1m / ml-10m", "ratings.dat"));
  std::string_view f[6];

  FUNNEL_RETURN_IF_ERROR(ImportFile<Item>(run, "movies.dat", "", [&](std::string_view line, Item* it) {
    size_t n = SplitFields(line, "::", f);
    if (n != 3) return FieldCountError(3, "'::'", n);
    return MakeMovie(f[0], f[1], f[2], it);
  }));
  if (HasFile(run.dir, "users.dat")) {  // ml-1m only
    FUNNEL_RETURN_IF_ERROR(ImportFile<User>(run, "users.dat", "", [&](std::string_view line, User* u) {
      size_t n = SplitFields(line, "::", f);
      if (n != 5) return FieldCountError(5, "'::'", n);
      return MakeUser({f[0], f[2], f[1], f[3], f[4], 3, 2, 4, true}, u);
    }));
  }
  FUNNEL_RETURN_IF_ERROR(ImportFile<Event>(run, "ratings.dat", "", [&](std::string_view line, Event* e) {
    size_t n = SplitFields(line, "::", f);
    if (n != 4) return FieldCountError(4, "'::'", n);
    return MakeRating(f[0], f[1], f[2], f[3], e);
  }));
  if (!HasFile(run.dir, "tags.dat")) return absl::OkStatus();  // ml-10m only
  return ImportFile<Event>(run, "tags.dat", "", [&](std::string_view line, Event* e) {
    // user::movie::tag::ts; a tag holding "::" keeps it (the user, movie and time are the ends).
    size_t first = line.find("::");
    size_t second = first == std::string_view::npos ? first : line.find("::", first + 2);
    size_t last = line.rfind("::");
    if (second == std::string_view::npos || last <= second)
      return FieldCountError(4, "'::'", SplitFields(line, "::", {}));
    return MakeTag(line.substr(0, first), line.substr(first + 2, second - first - 2),
                   line.substr(second + 2, last - second - 2), line.substr(last + 2), e);
  });
}

Status ImportLatest(Run& run) {
  FUNNEL_RETURN_IF_ERROR(RequireFile(run.dir, "movies.csv", "ml-latest / ml-20m / ml-25m", "ratings.csv"));
  const bool has_tags = HasFile(run.dir, "tags.csv");
  FUNNEL_RETURN_IF_ERROR(CheckHeader(run.dir, "movies.csv", kMoviesCsvHeader));
  FUNNEL_RETURN_IF_ERROR(CheckHeader(run.dir, "ratings.csv", kRatingsCsvHeader));
  if (has_tags) FUNNEL_RETURN_IF_ERROR(CheckHeader(run.dir, "tags.csv", kTagsCsvHeader));

  CsvSplitter csv;
  std::vector<std::string_view> f;
  std::string error;
  auto split = [&](std::string_view line, size_t want) -> Status {
    if (!csv.Split(line, &f, &error)) return Bad(Cat("invalid CSV: ", error));
    if (f.size() != want) return FieldCountError(want, "comma", f.size());
    return absl::OkStatus();
  };

  FUNNEL_RETURN_IF_ERROR(ImportFile<Item>(run, "movies.csv", kMoviesCsvHeader, [&](std::string_view line, Item* it) {
    FUNNEL_RETURN_IF_ERROR(split(line, 3));
    return MakeMovie(f[0], f[1], f[2], it);
  }));
  FUNNEL_RETURN_IF_ERROR(ImportFile<Event>(run, "ratings.csv", kRatingsCsvHeader, [&](std::string_view line, Event* e) {
    FUNNEL_RETURN_IF_ERROR(split(line, 4));
    return MakeRating(f[0], f[1], f[2], f[3], e);
  }));
  if (!has_tags) return absl::OkStatus();
  return ImportFile<Event>(run, "tags.csv", kTagsCsvHeader, [&](std::string_view line, Event* e) {
    FUNNEL_RETURN_IF_ERROR(split(line, 4));
    return MakeTag(f[0], f[1], f[2], f[3], e);
  });
}

struct LayoutMark {
  const char* ratings_file;
  MovieLensLayout layout;
  const char* names;
};
constexpr LayoutMark kLayouts[] = {
    {"u.data", MovieLensLayout::k100k, "ml-100k"},
    {"ratings.dat", MovieLensLayout::k1m10m, "ml-1m, ml-10m"},
    {"ratings.csv", MovieLensLayout::kLatest, "ml-latest, ml-20m, ml-25m"},
};

std::optional<MovieLensLayout> LayoutIn(const std::string& dir) {
  for (const LayoutMark& m : kLayouts)
    if (HasFile(dir, m.ratings_file)) return m.layout;
  return std::nullopt;
}

}  // namespace

StatusOr<MovieLensLayout> DetectMovieLensLayout(const std::string& dir) {
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (!fs::exists(st)) return absl::NotFoundError(Cat("MovieLens directory ", dir, " does not exist"));
  if (!fs::is_directory(st))
    return absl::InvalidArgumentError(
        Cat(dir, " is not a directory; give the MovieLens data set's directory (e.g. ml-100k/)"));
  if (std::optional<MovieLensLayout> layout = LayoutIn(dir)) return *layout;

  std::string message = Cat("no MovieLens data set in ", dir, ": looked for ");
  for (size_t i = 0; i < std::size(kLayouts); ++i)
    message += Cat(i == 0 ? "" : i + 1 == std::size(kLayouts) ? " and " : ", ",
                   kLayouts[i].ratings_file, " (", kLayouts[i].names, ")");
  // An unpacked archive often nests the data set one level down (ml-100k.zip -> ml-100k/).
  for (const fs::directory_entry& sub : fs::directory_iterator(dir, ec)) {
    std::error_code sub_ec;
    if (sub.is_directory(sub_ec) && LayoutIn(sub.path().string())) {
      message += Cat("; ", sub.path().string(), " has one: import that directory");
      break;
    }
  }
  return absl::NotFoundError(message);
}

StatusOr<ImportReport> ImportMovieLens(const std::string& dir, RecordSink& sink,
                                       const ImportOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  FUNNEL_ASSIGN_OR_RETURN(MovieLensLayout layout, DetectMovieLensLayout(dir));
  FUNNEL_ASSIGN_OR_RETURN(RejectLog rejects, RejectLog::Open(options.rejects_path));
  Run run{dir, sink, options, rejects, {}};
  switch (layout) {
    case MovieLensLayout::k100k: FUNNEL_RETURN_IF_ERROR(Import100k(run)); break;
    case MovieLensLayout::k1m10m: FUNNEL_RETURN_IF_ERROR(Import1m10m(run)); break;
    case MovieLensLayout::kLatest: FUNNEL_RETURN_IF_ERROR(ImportLatest(run)); break;
  }
  FUNNEL_RETURN_IF_ERROR(rejects.Close());
  run.total.source = dir;
  run.total.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::move(run.total);
}

}  // namespace funnel::events
