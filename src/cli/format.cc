#include "cli/format.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace funnel::cli {

std::string WithCommas(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string Count(uint64_t n, std::string_view singular, std::string_view plural) {
  if (n == 1) return fmt::format("1 {}", singular);
  if (plural.empty()) return fmt::format("{} {}s", WithCommas(n), singular);
  return fmt::format("{} {}", WithCommas(n), plural);
}

std::string ReadableDuration(double seconds) {
  struct Unit {
    double seconds;
    const char* suffix;
  };
  // A unit is used when the duration is a whole number of it; otherwise the next smaller one,
  // so 36h stays "36h" rather than "1.5d". Fractions appear only below a second.
  constexpr Unit kUnits[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  for (const Unit& u : kUnits) {
    double n = seconds / u.seconds;
    if (n >= 1 && std::fabs(n - std::round(n)) < 1e-9) return fmt::format("{}{}", std::llround(n), u.suffix);
  }
  return fmt::format("{:g}s", seconds);
}

std::string AlignedTable(const std::vector<std::vector<std::string>>& rows, std::string_view indent) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line(indent);
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(width[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace funnel::cli
