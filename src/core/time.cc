#include "funnel/core/time.h"

#include <ctime>

namespace funnel {

std::string FormatUtc(Timestamp t) {
  std::time_t secs = static_cast<std::time_t>(t.micros() / 1000000);
  if (t.micros() < 0 && t.micros() % 1000000 != 0) --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace funnel
