// Set-up shared by the retrieval benchmarks: a synthetic platform (`funnel generate`) imported
// into an event store, as `funnel generate` + `funnel import items|events` would leave it, and
// the platform's ground truth.
//
//   FUNNEL_ASSIGN_OR_RETURN(bench::Platform p, bench::OpenPlatform({.dir = "/tmp/p"}));
//   p.store->...;  GroundTruth::Load(p.gen_dir);
//
// The directory is reused when it already holds a finished import of the same options (a
// marker file records them), so repeated benchmark runs skip the minutes of set-up; an empty
// dir means a fresh temporary directory removed by ~Platform.
// Thread-safety: OpenPlatform is not reentrant on one directory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/store/event_store.h"

namespace funnel::bench {

struct PlatformOptions {
  std::string dir;  // work directory: gen/ (generator output) and events/ (the store)
  uint32_t users = 5000;
  uint32_t items = 20000;
  uint32_t days = 30;
  uint64_t seed = 42;
};

struct Platform {
  Platform() = default;
  Platform(Platform&&) = default;
  Platform& operator=(Platform&&) = default;
  ~Platform();

  std::string dir;
  std::string gen_dir;  // items.jsonl, events.jsonl, truth.jsonl
  std::unique_ptr<store::EventStore> store;
  bool temporary = false;
  double generate_seconds = 0, import_seconds = 0;  // 0 when reused
};

StatusOr<Platform> OpenPlatform(const PlatformOptions& options);

// Flags shared by the benchmark programs: --work DIR --users N --items M --days D --seed S.
// Returns false (after printing why) on a malformed value; unknown flags are left in `rest`.
bool ParsePlatformFlags(int argc, char** argv, PlatformOptions* options, std::vector<std::string>* rest);

// "2 cores, Intel(R) Xeon(R) ..., load 3.9 3.9 4.3": the machine line every report starts with.
std::string MachineLine();

// CPU time of the calling thread, reported beside wall time: the machine is shared, so wall time
// includes waits for a core and CPU time does not.
double ThreadCpuSeconds();

}  // namespace funnel::bench
