// Logging goes through spdlog to stderr; stdout is kept for a command's results.
// Thread-safety: spdlog's default logger is thread-safe; SetLogLevel is meant for start-up.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

#include "funnel/core/status.h"

namespace funnel {

// Sets the global level from a name (trace, debug, info, warn, error, off).
Status SetLogLevel(std::string_view level);

}  // namespace funnel
