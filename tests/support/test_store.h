// A real RocksDB event store in a temporary directory, filled by tests one event at a time or
// from the platform generator, for the stages that read the store (retrieval, training).
//
//   TestStore s;
//   s.Add("u1", "v1", "like", 3600);            // seconds after TestStore::kT0
//   uint32_t u = s.User("u1"), i = s.Item("v1"); // the store's dense indexes
//
// Thread-safety: not thread-safe (a test fixture).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "funnel/core/config.h"
#include "funnel/events/generator.h"
#include "funnel/events/jsonl_importer.h"
#include "funnel/store/event_store.h"
#include "support/temp_dir.h"

namespace funnel::testing {

class TestStore {
 public:
  static constexpr int64_t kT0 = 1'700'000'000;  // seconds; test times are offsets from it
  static constexpr double kHour = 3600, kDay = 86400;

  TestStore() {
    auto s = store::EventStore::Open({.path = dir_ / "events", .sync = false});
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) store_ = std::move(*s);
  }

  store::EventStore& store() { return *store_; }
  const store::EventStore& store() const { return *store_; }
  const TempDir& dir() const { return dir_; }

  // kT0 + offset_seconds as a Timestamp.
  static Timestamp At(double offset_seconds) {
    return Timestamp::FromMicros(kT0 * 1'000'000 + std::llround(offset_seconds * 1e6));
  }

  // One event with a unique id (so identical events are not deduplicated).
  void Add(const std::string& user, const std::string& item, const std::string& type, double offset_seconds,
           std::optional<double> value = std::nullopt) {
    events::Event e;
    e.user = user;
    e.item = item;
    e.type = type;
    e.ts = At(offset_seconds);
    e.value = value;
    e.id = "e" + std::to_string(next_id_++);
    auto r = store_->Append(std::span<const events::Event>(&e, 1));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->accepted, 1u);
  }

  // Item metadata: an upload time (offset from kT0) and attributes as JSON text.
  void AddItem(const std::string& item, std::optional<double> created_offset, const std::string& attributes = "") {
    events::Item it;
    it.item = item;
    if (created_offset) it.ts = At(*created_offset);
    it.attributes = attributes;
    ASSERT_TRUE(store_->UpsertItems(std::span<const events::Item>(&it, 1)).ok());
  }

  uint32_t User(const std::string& id) const {
    auto u = store_->FindUser(id);
    EXPECT_TRUE(u.has_value()) << "unknown user " << id;
    return u ? Raw(*u) : UINT32_MAX;
  }
  uint32_t Item(const std::string& id) const {
    auto i = store_->FindItem(id);
    EXPECT_TRUE(i.has_value()) << "unknown item " << id;
    return i ? Raw(*i) : UINT32_MAX;
  }

  // Imports a generated platform (items, then events) into the store.
  void ImportGenerated(uint32_t users, uint32_t items, uint32_t days, uint64_t seed) {
    events::GeneratorOptions g;
    g.users = users;
    g.items = items;
    g.days = days;
    g.seed = seed;
    g.out_dir = dir_ / "gen";
    auto summary = events::GeneratePlatform(g);
    ASSERT_TRUE(summary.ok()) << summary.status();
    for (auto [file, kind] : {std::pair{"items.jsonl", events::RecordKind::kItem},
                              std::pair{"events.jsonl", events::RecordKind::kEvent}}) {
      auto r = events::ImportJsonLines(g.out_dir + "/" + file, kind, *store_, ImportConfig{}, {});
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

 private:
  TempDir dir_;
  std::unique_ptr<store::EventStore> store_;
  int next_id_ = 0;
};

}  // namespace funnel::testing
