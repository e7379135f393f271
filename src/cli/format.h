// Small formatting helpers for command output.
#pragma once

#include <cstdint>
#include <string>

namespace funnel::cli {

// 1234567 -> "1,234,567"
std::string WithCommas(uint64_t n);
// 123456789 -> "117.7 MiB"
std::string HumanBytes(uint64_t bytes);

}  // namespace funnel::cli
