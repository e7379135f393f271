// The retrieval sources main registers, for tests that open model bundles the way the CLI does.
#pragma once

#include <memory>

#include "funnel/retrieval/source_registry.h"

namespace funnel::testing {

inline std::shared_ptr<const retrieval::SourceRegistry> BuiltinSourceRegistry() {
  return std::make_shared<const retrieval::SourceRegistry>(retrieval::BuiltinSources());
}

}  // namespace funnel::testing
