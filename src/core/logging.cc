#include "funnel/core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>


namespace funnel {

Status SetLogLevel(std::string_view level) {
  static bool initialized = [] {
    auto logger = spdlog::stderr_color_mt("funnel");
    logger->set_pattern("%^%L%$ %H:%M:%S.%e %v");
    spdlog::set_default_logger(logger);
    return true;
  }();
  (void)initialized;
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(Cat("unknown log level '", level, "'"));
  }
  spdlog::set_level(lvl);
  return absl::OkStatus();
}

}  // namespace funnel
