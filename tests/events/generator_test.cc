#include "funnel/events/generator.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "support/temp_dir.h"

namespace funnel::events {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kDriftDay = 2;

GeneratorOptions SmallOptions(const std::string& dir, uint64_t seed = 7, uint32_t drift_day = 0) {
  GeneratorOptions options;
  options.users = 200;
  options.items = 500;
  options.days = 3;
  options.seed = seed;
  options.drift_day = drift_day;
  options.out_dir = dir;
  return options;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ParsedEvent {
  std::string user, item, type, id, request_id, device;
  double ts = 0;
  std::optional<double> value;
};

// Parses every line of events.jsonl; a malformed line fails the test.
std::vector<ParsedEvent> ReadEvents(const std::string& path) {
  std::vector<ParsedEvent> events;
  simdjson::dom::parser parser;
  std::ifstream in(path);
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    simdjson::dom::object object;
    if (parser.parse(line).get(object) != simdjson::SUCCESS) {
      ADD_FAILURE() << "line " << line_no << " is not a JSON object: " << line;
      return {};
    }
    ParsedEvent e;
    std::string_view s;
    bool ok = object["user"].get(s) == simdjson::SUCCESS;
    e.user = s;
    ok = ok && object["item"].get(s) == simdjson::SUCCESS;
    e.item = s;
    ok = ok && object["type"].get(s) == simdjson::SUCCESS;
    e.type = s;
    ok = ok && object["id"].get(s) == simdjson::SUCCESS;
    e.id = s;
    ok = ok && object["request_id"].get(s) == simdjson::SUCCESS;
    e.request_id = s;
    ok = ok && object["ts"].get(e.ts) == simdjson::SUCCESS;
    double value = 0;
    if (object["value"].get(value) == simdjson::SUCCESS) e.value = value;
    if (object.at_pointer("/context/device").get(s) == simdjson::SUCCESS) e.device = s;
    if (!ok) {
      ADD_FAILURE() << "line " << line_no << " misses a required field: " << line;
      return {};
    }
    events.push_back(std::move(e));
  }
  return events;
}

// Generating is the slow part, so the runs are shared by every test.
class GeneratorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    for (const auto& [name, seed, drift] :
         {std::tuple{"a", 7, 0}, std::tuple{"b", 7, 0}, std::tuple{"c", 8, 0},
          std::tuple{"drift", 7, static_cast<int>(kDriftDay)}}) {
      auto summary = GeneratePlatform(SmallOptions(*dir_ / name, seed, drift));
      ASSERT_TRUE(summary.ok()) << summary.status();
      summaries_[name] = *summary;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string Path(const std::string& run, const std::string& file) {
    return *dir_ / run + "/" + file;
  }

  static testing::TempDir* dir_;
  static std::map<std::string, GeneratorSummary> summaries_;
};

testing::TempDir* GeneratorTest::dir_ = nullptr;
std::map<std::string, GeneratorSummary> GeneratorTest::summaries_;

TEST_F(GeneratorTest, SameSeedGivesIdenticalFilesAndAnotherSeedDoesNot) {
  for (const char* file : {"items.jsonl", "events.jsonl", "truth.jsonl"}) {
    const std::string a = ReadFile(Path("a", file));
    ASSERT_FALSE(a.empty()) << file;
    EXPECT_TRUE(a == ReadFile(Path("b", file))) << file << " differs between identical runs";
    EXPECT_FALSE(a == ReadFile(Path("c", file))) << file << " ignores the seed";
  }
  EXPECT_GT(summaries_["a"].events, 2000u);
  EXPECT_EQ(summaries_["a"].users, 200u);
  EXPECT_EQ(summaries_["a"].items, 500u);
}

TEST_F(GeneratorTest, NoTemporaryFilesAreLeftBehind) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(*dir_ / "a")) {
    names.insert(entry.path().filename().string());
  }
  EXPECT_EQ(names, (std::set<std::string>{"events.jsonl", "items.jsonl", "truth.jsonl"}));
}

TEST_F(GeneratorTest, EventsAreTimeOrderedJsonLinesWithUniqueIds) {
  const std::vector<ParsedEvent> events = ReadEvents(Path("a", "events.jsonl"));
  ASSERT_EQ(events.size(), summaries_["a"].events);
  std::set<std::string> ids;
  std::map<std::string, int> types;
  const double end =
      kGeneratorEpochSeconds + 3 * 86400.0 + 86400;  // sessions may run past midnight
  for (size_t k = 0; k < events.size(); ++k) {
    const ParsedEvent& e = events[k];
    if (k > 0) {
      ASSERT_GE(e.ts, events[k - 1].ts) << "event " << e.id << " goes back in time";
    }
    ASSERT_GE(e.ts, kGeneratorEpochSeconds);
    ASSERT_LT(e.ts, end);
    ASSERT_TRUE(ids.insert(e.id).second) << "duplicate id " << e.id;
    ++types[e.type];
    if (e.type == "impression") {
      EXPECT_THAT(e.device, ::testing::AnyOf("ios", "android", "web"));
      EXPECT_FALSE(e.value.has_value());
    }
  }
  for (const char* type : {"impression", "skip", "watch", "like", "share"}) {
    EXPECT_GT(types[type], 0) << type;
  }
  EXPECT_EQ(types.size(), 5u);
  EXPECT_EQ(static_cast<uint64_t>(types["impression"]), summaries_["a"].impressions);
  // Every impression gets exactly one skip or watch.
  EXPECT_EQ(types["impression"], types["skip"] + types["watch"]);
}

TEST_F(GeneratorTest, FeedbackFollowsAnImpressionOfTheSameUserAndItemInItsRequest) {
  const std::vector<ParsedEvent> events = ReadEvents(Path("a", "events.jsonl"));
  ASSERT_FALSE(events.empty());
  std::map<std::tuple<std::string, std::string, std::string>, double> shown;  // -> impression ts
  std::map<std::string, std::string> request_user;
  for (const ParsedEvent& e : events) {
    const auto key = std::tuple{e.request_id, e.user, e.item};
    if (e.type == "impression") {
      shown.emplace(key, e.ts);
      auto [it, added] = request_user.emplace(e.request_id, e.user);
      EXPECT_EQ(it->second, e.user) << "request " << e.request_id << " serves two users";
      continue;
    }
    auto it = shown.find(key);
    ASSERT_NE(it, shown.end()) << e.type << " " << e.id << " has no earlier impression of "
                               << e.item << " to " << e.user << " in " << e.request_id;
    EXPECT_LE(it->second, e.ts);
    EXPECT_LE(e.ts - it->second, 3 * 180.0 + 10) << "feedback long after its impression";
  }
}

TEST_F(GeneratorTest, SkipsLastUnderTwoSecondsAndWatchesAtLeastTwo) {
  int skips = 0, watches = 0;
  for (const ParsedEvent& e : ReadEvents(Path("a", "events.jsonl"))) {
    if (e.type == "skip") {
      ++skips;
      ASSERT_TRUE(e.value.has_value());
      EXPECT_GT(*e.value, 0);
      EXPECT_LT(*e.value, 2.0);
    } else if (e.type == "watch") {
      ++watches;
      ASSERT_TRUE(e.value.has_value());
      EXPECT_GE(*e.value, 2.0);
      EXPECT_LE(*e.value, 1.5 * 180 + 0.1);
    }
  }
  EXPECT_GT(skips, 0);
  EXPECT_GT(watches, 0);
}

TEST_F(GeneratorTest, ItemsHaveCategoriesCreatorsDurationsAndUploadsAroundDayZero) {
  simdjson::dom::parser parser;
  std::ifstream in(Path("a", "items.jsonl"));
  std::string line;
  int count = 0, back_catalog = 0, new_uploads = 0;
  while (std::getline(in, line)) {
    ++count;
    simdjson::dom::object item;
    ASSERT_EQ(parser.parse(line).get(item), simdjson::SUCCESS) << line;
    std::string_view id, creator;
    int64_t ts = 0, duration = 0;
    simdjson::dom::array categories;
    ASSERT_EQ(item["item"].get(id), simdjson::SUCCESS);
    EXPECT_EQ(id, "v" + std::to_string(count));
    ASSERT_EQ(item["creator"].get(creator), simdjson::SUCCESS);
    EXPECT_EQ(creator[0], 'c');
    ASSERT_EQ(item["ts"].get(ts), simdjson::SUCCESS);
    (ts < kGeneratorEpochSeconds ? back_catalog : new_uploads)++;
    ASSERT_EQ(item.at_pointer("/attributes/duration").get(duration), simdjson::SUCCESS);
    EXPECT_GE(duration, 5);
    EXPECT_LE(duration, 180);
    ASSERT_EQ(item["categories"].get(categories), simdjson::SUCCESS);
    EXPECT_GE(categories.size(), 1u);
    EXPECT_LE(categories.size(), 2u);
    for (auto c : categories) {
      std::string_view name;
      ASSERT_EQ(c.get(name), simdjson::SUCCESS);
      EXPECT_NE(std::find(kGeneratorCategoryNames.begin(), kGeneratorCategoryNames.end(), name),
                kGeneratorCategoryNames.end())
          << name;
    }
  }
  EXPECT_EQ(count, 500);
  EXPECT_GT(back_catalog, 100);
  EXPECT_GT(new_uploads, 100);
}

TEST_F(GeneratorTest, LikesRiseAndSkipsFallWithTrueAffinity) {
  auto truth = GroundTruth::Load(*dir_ / "a");
  ASSERT_TRUE(truth.ok()) << truth.status();
  ASSERT_EQ(truth->num_users(), 200u);
  ASSERT_EQ(truth->num_items(), 500u);
  const std::vector<ParsedEvent> events = ReadEvents(Path("a", "events.jsonl"));
  std::set<std::tuple<std::string, std::string, std::string>> liked, skipped;
  for (const ParsedEvent& e : events) {
    if (e.type == "like") liked.emplace(e.request_id, e.user, e.item);
    if (e.type == "skip") skipped.emplace(e.request_id, e.user, e.item);
  }
  std::vector<std::pair<double, std::tuple<std::string, std::string, std::string>>> shown;
  for (const ParsedEvent& e : events) {
    if (e.type != "impression") continue;
    auto a = truth->Affinity(e.user, e.item, Timestamp::FromSeconds(e.ts));
    ASSERT_TRUE(a.has_value()) << e.user << " " << e.item;
    shown.emplace_back(*a, std::tuple{e.request_id, e.user, e.item});
  }
  std::sort(shown.begin(), shown.end());
  const size_t quarter = shown.size() / 4;
  ASSERT_GT(quarter, 200u);
  auto rate = [&](size_t from, size_t to, const auto& set) {
    size_t hits = 0;
    for (size_t k = from; k < to; ++k) hits += set.count(shown[k].second);
    return static_cast<double>(hits) / static_cast<double>(to - from);
  };
  const double low_like = rate(0, quarter, liked);
  const double high_like = rate(shown.size() - quarter, shown.size(), liked);
  EXPECT_GT(high_like, 0.15);
  EXPECT_GT(high_like, 4 * low_like + 0.05) << "low " << low_like << " high " << high_like;
  const double low_skip = rate(0, quarter, skipped);
  const double high_skip = rate(shown.size() - quarter, shown.size(), skipped);
  EXPECT_GT(low_skip, high_skip + 0.3) << "low " << low_skip << " high " << high_skip;
}

TEST_F(GeneratorTest, FeedShowsPopularItemsMoreThanOthers) {
  std::map<std::string, int> per_item;
  int impressions = 0;
  for (const ParsedEvent& e : ReadEvents(Path("a", "events.jsonl"))) {
    if (e.type != "impression") continue;
    ++per_item[e.item];
    ++impressions;
  }
  std::vector<int> counts;
  for (const auto& [item, n] : per_item) counts.push_back(n);
  std::sort(counts.rbegin(), counts.rend());
  int top = 0;
  for (size_t k = 0; k < counts.size() / 10; ++k) top += counts[k];
  // Exposure bias: the top 10% of items get well over 10% of impressions.
  EXPECT_GT(top, impressions / 4);
}

TEST_F(GeneratorTest, TruthRoundTripsAndTopItemsAreSortedAndUploaded) {
  auto truth = GroundTruth::Load(*dir_ / "a");
  ASSERT_TRUE(truth.ok()) << truth.status();
  EXPECT_EQ(truth->seed(), 7u);
  EXPECT_EQ(truth->days(), 3u);
  EXPECT_FALSE(truth->drift_time().has_value());
  EXPECT_FALSE(truth->Affinity("nobody", "v1", Timestamp()).has_value());
  EXPECT_FALSE(truth->Affinity("u1", "v-none", Timestamp()).has_value());
  const auto user = truth->FindUser("u3");
  ASSERT_TRUE(user.has_value());
  const Timestamp t = Timestamp::FromSeconds(kGeneratorEpochSeconds + 86400.0);
  const std::vector<ItemIdx> top = truth->TopItems(*user, t, 20);
  ASSERT_EQ(top.size(), 20u);
  for (size_t k = 0; k < top.size(); ++k) {
    EXPECT_LE(truth->item(top[k]).uploaded, t);
    if (k > 0) {
      EXPECT_GE(truth->Affinity(*user, top[k - 1], t), truth->Affinity(*user, top[k], t));
    }
  }
  // No item outside the top 20 scores higher than the 20th.
  const double cutoff = truth->Affinity(*user, top.back(), t);
  for (uint32_t i = 0; i < truth->num_items(); ++i) {
    const ItemIdx item{i};
    if (truth->item(item).uploaded > t || std::find(top.begin(), top.end(), item) != top.end()) {
      continue;
    }
    EXPECT_LE(truth->Affinity(*user, item, t), cutoff);
  }
}

TEST_F(GeneratorTest, AffinityFollowsTheDocumentedFormula) {
  auto truth = GroundTruth::Load(*dir_ / "a");
  ASSERT_TRUE(truth.ok()) << truth.status();
  const TruthUser& u = truth->user(UserIdx{5});
  for (uint32_t i = 0; i < 50; ++i) {
    const TruthItem& item = truth->item(ItemIdx{i});
    double category = 0;
    for (int k = 0; k < item.category_count; ++k) category += u.taste[item.categories[k]];
    category /= item.category_count;
    double latent = 0;
    for (int d = 0; d < kGeneratorLatentDim; ++d) latent += double{u.latent[d]} * item.latent[d];
    const bool follows = std::find(u.creators.begin(), u.creators.begin() + u.creator_count,
                                   item.creator) != u.creators.begin() + u.creator_count;
    const double expected =
        1.0 * category + 1.0 * latent + 0.8 * (follows ? 1 : 0) + 0.5 * item.quality;
    EXPECT_NEAR(truth->Affinity(UserIdx{5}, ItemIdx{i}, Timestamp()), expected, 1e-12);
  }
}

TEST_F(GeneratorTest, DriftMovesTastesOfSomeUsersFromTheDriftDayOn) {
  auto truth = GroundTruth::Load(*dir_ / "drift");
  ASSERT_TRUE(truth.ok()) << truth.status();
  const Timestamp drift = Timestamp::FromSeconds(kGeneratorEpochSeconds + kDriftDay * 86400.0);
  ASSERT_TRUE(truth->drift_time().has_value());
  EXPECT_EQ(*truth->drift_time(), drift);
  const Timestamp before = Timestamp::FromMicros(drift.micros() - 1);
  int drifted = 0, changed = 0;
  for (uint32_t u = 0; u < truth->num_users(); ++u) {
    const UserIdx user{u};
    bool differs = false;
    for (uint32_t i = 0; i < truth->num_items(); i += 7) {
      differs |=
          truth->Affinity(user, ItemIdx{i}, before) != truth->Affinity(user, ItemIdx{i}, drift);
    }
    drifted += truth->user(user).drifted ? 1 : 0;
    changed += differs ? 1 : 0;
    EXPECT_EQ(differs, truth->user(user).drifted) << "user " << truth->UserId(user);
  }
  EXPECT_EQ(static_cast<uint64_t>(drifted), summaries_["drift"].drifted_users);
  EXPECT_GT(drifted, 200 / 10);
  EXPECT_LT(drifted, 200 / 2);
  EXPECT_EQ(summaries_["a"].drifted_users, 0u);
  // Drift has its own random stream: the log up to the drift is the same as without drift.
  const std::vector<ParsedEvent> with = ReadEvents(Path("drift", "events.jsonl"));
  const std::vector<ParsedEvent> without = ReadEvents(Path("a", "events.jsonl"));
  size_t same = 0;
  while (same < with.size() && same < without.size() && with[same].id == without[same].id &&
         with[same].item == without[same].item && with[same].type == without[same].type &&
         with[same].ts == without[same].ts) {
    ++same;
  }
  ASSERT_LT(same, with.size()) << "drift changed nothing in the log";
  EXPECT_GE(with[same].ts, drift.seconds());
  EXPECT_GT(same, with.size() / 3);
}

TEST(GeneratorOptionsTest, BadOptionsAreRejectedWithTheirName) {
  testing::TempDir dir;
  const GeneratorOptions good = SmallOptions(dir / "out");
  auto expect_rejected = [&](GeneratorOptions options, const std::string& named) {
    auto summary = GeneratePlatform(options);
    ASSERT_FALSE(summary.ok()) << named;
    EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(summary.status().message()), HasSubstr(named));
  };
  GeneratorOptions o = good;
  o.users = 0;
  expect_rejected(o, "users");
  o = good;
  o.items = 0;
  expect_rejected(o, "items");
  o = good;
  o.days = 0;
  expect_rejected(o, "days");
  o = good;
  o.drift_day = o.days;
  expect_rejected(o, "drift day");
  o = good;
  o.out_dir.clear();
  expect_rejected(o, "output directory");
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));

  // The output directory cannot be created where a file already is.
  const std::string file = dir.Write("a-file", "x");
  auto summary = GeneratePlatform(SmallOptions(file));
  ASSERT_FALSE(summary.ok());
  EXPECT_THAT(std::string(summary.status().message()), HasSubstr("cannot create output directory"));
}

TEST(GroundTruthLoadTest, RejectsMissingTruncatedAndEditedFiles) {
  testing::TempDir dir;
  auto missing = GroundTruth::Load(dir / "nothing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  GeneratorOptions options = SmallOptions(dir / "run");
  options.users = 20;
  options.items = 40;
  options.days = 1;
  ASSERT_TRUE(GeneratePlatform(options).ok());
  const std::string path = dir / "run/truth.jsonl";
  const std::string good = ReadFile(path);
  ASSERT_TRUE(GroundTruth::Load(dir / "run").ok());

  std::ofstream(path, std::ios::binary | std::ios::trunc) << good.substr(0, good.size() / 2);
  auto truncated = GroundTruth::Load(dir / "run");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);

  std::string edited = good;
  const size_t pos = edited.find("\"quality\":") + 10;
  edited[pos] = edited[pos] == '1' ? '2' : '1';
  std::ofstream(path, std::ios::binary | std::ios::trunc) << edited;
  auto tampered = GroundTruth::Load(dir / "run");
  ASSERT_FALSE(tampered.ok());
  EXPECT_THAT(std::string(tampered.status().message()), HasSubstr("checksum"));

  std::ofstream(path, std::ios::binary | std::ios::trunc) << good << "{\"more\":1}\n";
  EXPECT_FALSE(GroundTruth::Load(dir / "run").ok());
}

}  // namespace
}  // namespace funnel::events
