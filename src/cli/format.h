// Small formatting helpers for command output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace funnel::cli {

// 1234567 -> "1,234,567"
std::string WithCommas(uint64_t n);
// 123456789 -> "117.7 MiB"
std::string HumanBytes(uint64_t bytes);
// (1, "event") -> "1 event", (2000, "event") -> "2,000 events"; `plural` for irregular nouns.
std::string Count(uint64_t n, std::string_view singular, std::string_view plural = {});

}  // namespace funnel::cli
