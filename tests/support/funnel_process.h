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

}  // namespace funnel::testing
