// Small formatting helpers for command output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace funnel::cli {

// 1234567 -> "1,234,567"
std::string WithCommas(uint64_t n);
// 123456789 -> "117.7 MiB"
std::string HumanBytes(uint64_t bytes);
// A count and its noun, singular for exactly one: Count(1, "event") is "1 event",
// Count(2000, "event") is "2,000 events", Count(0, "entry", "entries") is "0 entries".
// English plurals: the word plus "s" unless `plural` spells it.
std::string Count(uint64_t n, std::string_view singular, std::string_view plural = {});
// Seconds in the largest unit that keeps the figure readable: 604800 -> "7d", 3600 -> "1h",
// 1800 -> "30m", 90 -> "90s", 5400 -> "90m", 129600 -> "36h" (the units ParseDuration reads,
// weeks written as days, so "7d" reads as it was most likely configured).
std::string ReadableDuration(double seconds);
// Rows (the first is the header) as text with every column but the last padded to its widest
// cell, two spaces apart, each line indented by `indent`. Widths count bytes: keep cells ASCII.
std::string AlignedTable(const std::vector<std::vector<std::string>>& rows, std::string_view indent = "  ");

}  // namespace funnel::cli
