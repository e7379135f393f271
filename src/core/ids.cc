#include "funnel/core/ids.h"

#include "funnel/core/status.h"

namespace funnel {

void IdDictionary::Restore(uint32_t idx, std::string_view name) {
  FUNNEL_CHECK(idx == names_.size());
  Intern(name);
}

void IdDictionary::Truncate(size_t n) {
  while (names_.size() > n) {
    index_.erase(names_.back());
    names_.pop_back();
  }
}

}  // namespace funnel
