// Running the `funnel` binary from integration tests (FUNNEL_BINARY is set by tests/CMakeLists.txt).
//
//   ProcessResult r = testing::Funnel({"stats", "--data", dir});
//   ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
#pragma once

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/subprocess.h"

namespace funnel::testing {

inline ProcessResult Funnel(std::vector<std::string> args, const std::string& stdin_data = "") {
  args.insert(args.begin(), FUNNEL_BINARY);
  return RunProcess(args, stdin_data);
}

// The exit code and the head of both streams, for assertion messages.
inline std::string Describe(const ProcessResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out.substr(0, 4000) + "\nstderr:\n" +
         r.err.substr(0, 4000);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The small generated platform the CLI suites share: `funnel generate` 120 users x 300 items x
// 3 days (seed 9) into `gen`, its items and events imported into `data`. The first failing
// step's output, or "" when every step succeeded (call ASSERT_EQ(..., "") on it).
inline std::string GenerateAndImport(const std::string& gen, const std::string& data) {
  ProcessResult g = Funnel({"generate", "--out", gen, "--users", "120", "--items", "300", "--days", "3", "--seed", "9"});
  if (g.exit_code != 0) return Describe(g);
  for (const char* kind : {"items", "events"}) {
    ProcessResult r = Funnel({"import", kind, gen + "/" + kind + ".jsonl", "--data", data});
    if (r.exit_code != 0) return Describe(r);
  }
  return "";
}

}  // namespace funnel::testing
