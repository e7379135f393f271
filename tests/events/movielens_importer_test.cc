#include "funnel/events/movielens_importer.h"

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/store/event_store.h"
#include "support/temp_dir.h"

namespace funnel::events {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Small fixtures of the three layouts. Each has a Latin-1 or quoted title and bad lines.
const std::string kGenres100k =
    "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n"
    "Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\n"
    "Romance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n";
const std::string kItems100k =
    "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)"
    "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|Mis\xe9rables, Les (1995)|4-Feb-1995||http://x|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n"
    "267|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "4|Bad Flags (1999)|01-Jan-1999||http://y|0|0|2|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n";
const std::string kUsers100k = "1|24|M|technician|85711\n2|53|F|other|94043\n";
const std::string kRatings100k =
    "1\t1\t5\t874724710\n"
    "1\t2\t3\t874724711\n"
    "2\t1\tx\t874724712\n"
    "2\t267\t4\t893286638\n"
    "2\t2\t4\n";

const std::string kMovies1m =
    "1::Toy Story (1995)::Animation|Children's|Comedy\n"
    "73::Mis\xe9rables, Les (1995)::Drama|Musical\n";
const std::string kUsers1m = "1::F::1::10::48067\n2::M::56::16::70072\n";
const std::string kRatings1m =
    "1::1::5::978300760\n"
    "1::73::3::978302109\n"
    "2::73::five::978298413\n"
    "2::1::4::978298413\n";

const std::string kMoviesCsv =
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
    "11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
    "99,\"The \"\"Quoted\"\" Movie (2001)\",Drama\n"
    "182727,A Christmas Story Live! (2017),(no genres listed)\n";
const std::string kRatingsCsv =
    "userId,movieId,rating,timestamp\n"
    "1,1,4.0,964982703\n"
    "1,11,3.5,964981247\n"
    "2,99,,964982224\n"
    "2,182727,5,1537109082\n";
const std::string kTagsCsv =
    "userId,movieId,tag,timestamp\n"
    "2,11,\"funny, smart\",1445714994\n"
    "2,11,politics,1445714996\n";

class MovieLensImporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::EventStoreOptions opts;
    opts.path = dir_ / "store";
    opts.sync = false;
    auto s = store::EventStore::Open(opts);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }

  std::string Write100k(const std::string& ratings = kRatings100k) {
    dir_.Write("ml-100k/u.genre", kGenres100k);
    dir_.Write("ml-100k/u.item", kItems100k);
    dir_.Write("ml-100k/u.user", kUsers100k);
    dir_.Write("ml-100k/u.data", ratings);
    return dir_ / "ml-100k";
  }
  std::string Write1m() {
    dir_.Write("ml-1m/movies.dat", kMovies1m);
    dir_.Write("ml-1m/users.dat", kUsers1m);
    dir_.Write("ml-1m/ratings.dat", kRatings1m);
    return dir_ / "ml-1m";
  }
  std::string WriteLatest() {
    dir_.Write("ml-latest/movies.csv", kMoviesCsv);
    dir_.Write("ml-latest/ratings.csv", kRatingsCsv);
    dir_.Write("ml-latest/tags.csv", kTagsCsv);
    return dir_ / "ml-latest";
  }

  StatusOr<ImportReport> Import(const std::string& dir, ImportOptions opts = {}) {
    return ImportMovieLens(dir, *store_, opts);
  }

  Item GetItem(const std::string& id) {
    auto idx = store_->FindItem(id);
    EXPECT_TRUE(idx.has_value()) << "no item " << id;
    if (!idx) return {};
    auto item = store_->GetItem(*idx);
    EXPECT_TRUE(item.ok() && item->has_value()) << "no metadata for item " << id;
    return item.ok() && item->has_value() ? **item : Item{};
  }
  std::string UserAttributes(const std::string& id) {
    auto idx = store_->FindUser(id);
    EXPECT_TRUE(idx.has_value()) << "no user " << id;
    if (!idx) return {};
    auto user = store_->GetUser(*idx);
    EXPECT_TRUE(user.ok() && user->has_value()) << "no attributes for user " << id;
    return user.ok() && user->has_value() ? (*user)->attributes : "";
  }

  struct Seen {
    std::string user, item, type, id, context;
    double ts = 0;
    std::optional<double> value;
  };
  std::vector<Seen> AllEvents() {
    std::vector<Seen> out;
    Status s = store_->Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
      out.push_back({store_->UserName(e.user), store_->ItemName(e.item), store_->TypeName(e.type),
                     std::string(e.id), std::string(e.context), e.ts.seconds(), e.value});
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<store::EventStore> store_;
};

TEST_F(MovieLensImporterTest, DetectsEachLayoutByItsRatingsFile) {
  auto k100 = DetectMovieLensLayout(Write100k());
  auto k1m = DetectMovieLensLayout(Write1m());
  auto latest = DetectMovieLensLayout(WriteLatest());
  ASSERT_TRUE(k100.ok() && k1m.ok() && latest.ok());
  EXPECT_EQ(*k100, MovieLensLayout::k100k);
  EXPECT_EQ(*k1m, MovieLensLayout::k1m10m);
  EXPECT_EQ(*latest, MovieLensLayout::kLatest);
}

TEST_F(MovieLensImporterTest, DirectoryWithoutRatingsIsNotFoundNamingWhatWasLookedFor) {
  dir_.Write("empty/README", "nothing here");
  auto r = DetectMovieLensLayout(dir_ / "empty");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(MessageOf(r.status()),
            "no MovieLens data set in " + (dir_ / "empty") +
                ": looked for u.data (ml-100k), ratings.dat (ml-1m, ml-10m) and ratings.csv "
                "(ml-latest, ml-20m, ml-25m)");

  auto missing = ImportMovieLens(dir_ / "nope", *store_, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(missing.status()), HasSubstr("nope does not exist"));

  auto file = DetectMovieLensLayout(dir_.Write("file.txt", "x"));
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(MessageOf(file.status()), HasSubstr("is not a directory"));
}

TEST_F(MovieLensImporterTest, NestedDataSetIsPointedOut) {
  dir_.Write("unzipped/ml-100k/u.data", kRatings100k);
  auto r = DetectMovieLensLayout(dir_ / "unzipped");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(MessageOf(r.status()), HasSubstr("; " + (dir_ / "unzipped/ml-100k") +
                                               " has one: import that directory"));
}

TEST_F(MovieLensImporterTest, MissingMoviesFileIsNotFoundAndNothingIsStored) {
  dir_.Write("ml/u.data", kRatings100k);
  auto r = Import(dir_ / "ml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(r.status()), HasSubstr("has u.data but no u.item"));
  EXPECT_EQ(store_->Stats().events, 0u);
}

TEST_F(MovieLensImporterTest, Imports100kItemsUsersAndRatingsAndRejectsBadLines) {
  auto r = Import(Write100k());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->source, dir_ / "ml-100k");
  EXPECT_EQ(r->lines, 4u + 2u + 5u);
  EXPECT_EQ(r->accepted, 3u);
  EXPECT_EQ(r->duplicates, 0u);
  EXPECT_EQ(r->rejected, 3u);
  EXPECT_THAT(r->first_errors,
              ElementsAre("u.item:4: field 8 (genre flag Adventure): expected 0 or 1, got \"2\"",
                          "u.data:3: field 3 (rating): expected a number, got \"x\"",
                          "u.data:5: expected 4 tab-separated fields, got 3"));

  store::StoreStats st = store_->Stats();
  EXPECT_EQ(st.events, 3u);
  EXPECT_EQ(st.users, 2u);
  EXPECT_EQ(st.items, 3u);
  EXPECT_EQ(st.items_with_metadata, 3u);
  EXPECT_EQ(st.users_with_attributes, 2u);

  Item toy = GetItem("1");
  EXPECT_THAT(toy.categories, ElementsAre("Animation", "Children's", "Comedy"));
  EXPECT_EQ(toy.attributes,
            R"j({"title":"Toy Story (1995)","year":1995,"release_date":"1995-01-01",)j"
            R"j("imdb_url":"http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)"})j");
  EXPECT_FALSE(toy.ts.has_value());
  Item mis = GetItem("2");  // Latin-1 0xE9 becomes UTF-8 C3 A9
  EXPECT_THAT(mis.categories, ElementsAre("Drama"));
  EXPECT_EQ(mis.attributes,
            "{\"title\":\"Mis\xc3\xa9rables, Les (1995)\",\"year\":1995,"
            "\"release_date\":\"1995-02-04\",\"imdb_url\":\"http://x\"}");
  Item unknown = GetItem("267");  // only the "unknown" flag: no categories, no year
  EXPECT_TRUE(unknown.categories.empty());
  EXPECT_EQ(unknown.attributes, R"j({"title":"unknown"})j");
  EXPECT_FALSE(store_->FindItem("4").has_value());

  EXPECT_EQ(UserAttributes("1"), R"j({"age":24,"gender":"M","occupation":"technician","zip":"85711"})j");
  EXPECT_EQ(UserAttributes("2"), R"j({"age":53,"gender":"F","occupation":"other","zip":"94043"})j");

  std::vector<Seen> events = AllEvents();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].user, "1");
  EXPECT_EQ(events[0].item, "1");
  EXPECT_EQ(events[0].type, "rating");
  EXPECT_EQ(events[0].ts, 874724710);
  EXPECT_EQ(events[0].value, 5.0);
  EXPECT_EQ(events[0].id, "ml:1:1:874724710");
  EXPECT_EQ(events[2].id, "ml:2:267:893286638");
  EXPECT_EQ(events[2].value, 4.0);
}

TEST_F(MovieLensImporterTest, GenreNamesComeFromUGenre) {
  dir_.Write("ml/u.genre", "Cult|0\nNoir|1\nOther|2\n");
  dir_.Write("ml/u.item", "5|Odd (1960)|||u|1|0|1\n" + kItems100k.substr(0, kItems100k.find('\n') + 1));
  dir_.Write("ml/u.data", "1\t5\t4\t874724710\n");
  auto r = Import(dir_ / "ml");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_THAT(r->first_errors, ElementsAre("u.item:2: expected 8 '|'-separated fields (5 + 3 genre flags), got 24"));
  EXPECT_THAT(GetItem("5").categories, ElementsAre("Cult", "Other"));
  EXPECT_EQ(GetItem("5").attributes, R"j({"title":"Odd (1960)","year":1960,"imdb_url":"u"})j");
}

TEST_F(MovieLensImporterTest, Imports1mDatFilesWithLatin1TitlesAndUserCodes) {
  auto r = Import(Write1m());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines, 2u + 2u + 4u);
  EXPECT_EQ(r->accepted, 3u);
  EXPECT_EQ(r->rejected, 1u);
  EXPECT_THAT(r->first_errors,
              ElementsAre("ratings.dat:3: field 3 (rating): expected a number, got \"five\""));
  EXPECT_THAT(GetItem("1").categories, ElementsAre("Animation", "Children's", "Comedy"));
  Item mis = GetItem("73");
  EXPECT_THAT(mis.categories, ElementsAre("Drama", "Musical"));
  EXPECT_EQ(mis.attributes, "{\"title\":\"Mis\xc3\xa9rables, Les (1995)\",\"year\":1995}");
  EXPECT_EQ(UserAttributes("1"), R"j({"age":1,"gender":"F","occupation":10,"zip":"48067"})j");
  EXPECT_EQ(UserAttributes("2"), R"j({"age":56,"gender":"M","occupation":16,"zip":"70072"})j");
  store::StoreStats st = store_->Stats();
  EXPECT_EQ(st.events, 3u);
  EXPECT_EQ(st.users, 2u);
  EXPECT_EQ(st.users_with_attributes, 2u);
  EXPECT_EQ(st.items_with_metadata, 2u);
}

TEST_F(MovieLensImporterTest, Imports10mHalfStarRatingsAndTagsDat) {
  dir_.Write("ml-10m/movies.dat",
             "8606::Pull My Daisy (1958)::(no genres listed)\n122::Boomerang (1992)::Comedy|Romance\n");
  dir_.Write("ml-10m/ratings.dat", "1::122::3.5::838985046\n1::8606::0.5::838983525\n1::122::9::838983526\n");
  dir_.Write("ml-10m/tags.dat", "15::8606::beat generation::1162160236\n15::122::a::b::1162160237\n15::122::::1\n");
  auto r = Import(dir_ / "ml-10m");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 4u);
  EXPECT_THAT(r->first_errors,
              ElementsAre("ratings.dat:3: field 3 (rating): expected a number from 0 to 5, got \"9\"",
                          "tags.dat:3: field 3 (tag): expected a tag, got \"\""));
  EXPECT_TRUE(GetItem("8606").categories.empty());
  std::vector<Seen> events = AllEvents();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].value, 0.5);
  EXPECT_EQ(events[1].value, 3.5);
  EXPECT_EQ(events[2].type, "tag");
  EXPECT_EQ(events[2].context, R"j({"tag":"beat generation"})j");
  EXPECT_FALSE(events[2].value.has_value());
  EXPECT_THAT(events[2].id, StartsWith("ml-tag:15:8606:1162160236:"));
  EXPECT_EQ(events[2].id.size(), std::string("ml-tag:15:8606:1162160236:").size() + 16);
  EXPECT_EQ(events[3].context, R"j({"tag":"a::b"})j");
}

TEST_F(MovieLensImporterTest, ImportsLatestCsvWithQuotedTitlesAndTags) {
  auto r = Import(WriteLatest());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines, 5u + 5u + 3u);
  EXPECT_EQ(r->accepted, 3u + 2u);
  EXPECT_EQ(r->rejected, 1u);
  EXPECT_THAT(r->first_errors,
              ElementsAre("ratings.csv:4: field 3 (rating): expected a number, got \"\""));

  EXPECT_THAT(GetItem("1").categories, ElementsAre("Adventure", "Animation", "Children", "Comedy", "Fantasy"));
  Item president = GetItem("11");
  EXPECT_THAT(president.categories, ElementsAre("Comedy", "Drama", "Romance"));
  EXPECT_EQ(president.attributes, R"j({"title":"American President, The (1995)","year":1995})j");
  EXPECT_EQ(GetItem("99").attributes, R"j({"title":"The \"Quoted\" Movie (2001)","year":2001})j");
  Item live = GetItem("182727");
  EXPECT_TRUE(live.categories.empty());
  EXPECT_EQ(live.attributes, R"j({"title":"A Christmas Story Live! (2017)","year":2017})j");

  store::StoreStats st = store_->Stats();
  EXPECT_EQ(st.events, 5u);
  EXPECT_EQ(st.items_with_metadata, 4u);
  EXPECT_EQ(st.users_with_attributes, 0u);
  std::vector<Seen> events = AllEvents();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].id, "ml:1:11:964981247");
  EXPECT_EQ(events[0].value, 3.5);
  EXPECT_EQ(events[2].type, "tag");
  EXPECT_EQ(events[2].user, "2");
  EXPECT_EQ(events[2].item, "11");
  EXPECT_EQ(events[2].context, R"j({"tag":"funny, smart"})j");
  EXPECT_THAT(events[2].id, StartsWith("ml-tag:2:11:1445714994:"));
  EXPECT_EQ(events[3].context, R"j({"tag":"politics"})j");
  EXPECT_EQ(events[4].id, "ml:2:182727:1537109082");
}

TEST_F(MovieLensImporterTest, ReimportStoresNothingNewForEveryLayout) {
  for (const std::string& dir : {Write100k(), Write1m(), WriteLatest()}) {
    SCOPED_TRACE(dir);
    ImportOptions opts;
    opts.batch_size = 2;  // many commits, so dedupe works across batches
    auto first = Import(dir, opts);
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_GT(first->accepted, 0u);
    uint64_t events_before = store_->Stats().events;
    auto second = Import(dir, opts);
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(second->accepted, 0u);
    EXPECT_EQ(second->duplicates, first->accepted);
    EXPECT_EQ(second->rejected, first->rejected);
    EXPECT_EQ(store_->Stats().events, events_before);
  }
}

TEST_F(MovieLensImporterTest, WrongCsvHeaderFailsBeforeAnythingIsStored) {
  std::string dir = WriteLatest();
  dir_.Write("ml-latest/ratings.csv", "user,movie,rating,timestamp\n1,1,4.0,964982703\n");
  auto r = Import(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(MessageOf(r.status()),
            "ratings.csv:1: expected the header line \"userId,movieId,rating,timestamp\", got "
            "\"user,movie,rating,timestamp\"");
  store::StoreStats st = store_->Stats();
  EXPECT_EQ(st.events, 0u);
  EXPECT_EQ(st.items_with_metadata, 0u);
}

TEST_F(MovieLensImporterTest, RejectsFileGetsEveryBadLineWithItsFile) {
  ImportOptions opts;
  opts.rejects_path = dir_ / "rejects.jsonl";
  auto r = Import(Write100k(), opts);
  ASSERT_TRUE(r.ok());
  std::ifstream in(opts.rejects_path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], StartsWith(R"j({"source":"u.item","line":4,"error":"field 8 (genre flag Adventure))j"));
  EXPECT_EQ(lines[1],
            R"j({"source":"u.data","line":3,"error":"field 3 (rating): expected a number, got \"x\"",)j"
            R"j("record":"2\t1\tx\t874724712"})j");
  EXPECT_THAT(lines[2], HasSubstr(R"j("line":5,)j"));
}

TEST_F(MovieLensImporterTest, CommitCallbackFollowsTheFilesInOrder) {
  ImportOptions opts;
  opts.batch_size = 2;
  std::vector<std::pair<std::string, uint64_t>> commits;
  std::vector<uint64_t> accepted;
  opts.on_commit = [&](const std::string& source, uint64_t line, const ImportReport& so_far) {
    commits.emplace_back(source, line);
    accepted.push_back(so_far.accepted);
  };
  ASSERT_TRUE(Import(WriteLatest(), opts).ok());
  using C = std::pair<std::string, uint64_t>;
  EXPECT_THAT(commits, ElementsAre(C{"movies.csv", 3}, C{"movies.csv", 5}, C{"ratings.csv", 3},
                                   C{"ratings.csv", 5}, C{"tags.csv", 3}));
  EXPECT_THAT(accepted, ElementsAre(0, 0, 2, 3, 5));
}

}  // namespace
}  // namespace funnel::events
