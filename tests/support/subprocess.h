// Runs the funnel binary (or any program) as a child process for integration tests.
#pragma once

#include <string>
#include <vector>

namespace funnel::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs argv to completion, capturing stdout and stderr; `stdin_data` is written to its stdin.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_data = "");

}  // namespace funnel::testing
