// Imports the real MovieLens 100K with the `funnel` binary and checks exact counts.
//
// The data set is read from FUNNEL_SHARED_DATA_DIR "/ml-100k" (../shared/data beside the
// project). A user's clone has no ../shared, so these tests SKIP there; CI always has the
// directory, so there they always run.
#include <filesystem>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "funnel/store/event_store.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace funnel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::RunProcess;

const std::string kDataSet = FUNNEL_SHARED_DATA_DIR "/ml-100k";

class MovieLens100kTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_regular_file(kDataSet + "/u.data"))
      GTEST_SKIP() << kDataSet << " is absent (a clone without ../shared); CI always has it";
  }

  testing::ProcessResult Import() {
    return RunProcess({FUNNEL_BINARY, "import", "movielens", kDataSet, "--data", data_});
  }

  testing::TempDir tmp_;
  std::string data_ = tmp_ / "data";
};

TEST_F(MovieLens100kTest, ImportStoresEveryRatingUserAndMovieAndReimportStoresNothing) {
  testing::ProcessResult first = Import();
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_THAT(first.out, HasSubstr("ml-100k: 100,000 accepted, 0 duplicates skipped, 0 rejected"));

  testing::ProcessResult stats = RunProcess({FUNNEL_BINARY, "stats", "--data", data_});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_THAT(stats.out, HasSubstr("events: 100,000 from 1997-09-20T03:05:10Z to 1998-04-22T23:10:38Z\n"));
  EXPECT_THAT(stats.out, HasSubstr("users:  943 (943 with attributes)\n"));
  EXPECT_THAT(stats.out, HasSubstr("items:  1,682 (1,682 with metadata)\n"));

  {
    store::EventStoreOptions opts;
    opts.path = data_ + "/events";
    opts.read_only = true;
    opts.create_if_missing = false;
    auto opened = store::EventStore::Open(opts);
    ASSERT_TRUE(opened.ok()) << opened.status();
    const store::EventStore& store = **opened;

    store::StoreStats st = store.Stats();
    EXPECT_EQ(st.events, 100000u);
    EXPECT_THAT(st.events_by_type, ElementsAre(std::pair<std::string, uint64_t>{"rating", 100000}));
    EXPECT_EQ(st.users, 943u);
    EXPECT_EQ(st.items, 1682u);
    EXPECT_EQ(st.items_with_metadata, 1682u);
    EXPECT_EQ(st.users_with_attributes, 943u);
    ASSERT_TRUE(st.first_ts && st.last_ts);
    EXPECT_EQ(FormatUtc(*st.first_ts).substr(0, 10), "1997-09-20");
    EXPECT_EQ(FormatUtc(*st.last_ts).substr(0, 10), "1998-04-22");
    EXPECT_EQ(st.first_ts->seconds(), 874724710);
    EXPECT_EQ(st.last_ts->seconds(), 893286638);

    // The published star distribution (README.md of the data set).
    std::map<double, int> stars;
    Status s = store.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
      ++stars[e.value.value_or(-1)];
      return true;
    });
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(stars, (std::map<double, int>{{1, 6110}, {2, 11370}, {3, 27145}, {4, 34174}, {5, 21201}}));

    // u.item is Latin-1: item 543's title arrives as UTF-8.
    auto mis = store.FindItem("543");
    ASSERT_TRUE(mis.has_value());
    auto item = store.GetItem(*mis);
    ASSERT_TRUE(item.ok() && item->has_value());
    EXPECT_THAT((*item)->attributes, HasSubstr("\"title\":\"Mis\xc3\xa9rables, Les (1995)\",\"year\":1995"));
    EXPECT_THAT((*item)->categories, ElementsAre("Drama", "Musical"));

    auto user = store.GetUser(*store.FindUser("1"));
    ASSERT_TRUE(user.ok() && user->has_value());
    EXPECT_EQ((*user)->attributes, R"({"age":24,"gender":"M","occupation":"technician","zip":"85711"})");
  }

  testing::ProcessResult second = Import();
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_THAT(second.out, HasSubstr("ml-100k: 0 accepted, 100,000 duplicates skipped, 0 rejected"));
  testing::ProcessResult after = RunProcess({FUNNEL_BINARY, "stats", "--data", data_});
  EXPECT_THAT(after.out, HasSubstr("events: 100,000 from"));
  EXPECT_THAT(after.out, HasSubstr("items:  1,682 (1,682 with metadata)\n"));
}

}  // namespace
}  // namespace funnel
