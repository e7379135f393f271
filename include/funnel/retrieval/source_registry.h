// The retrieval sources a program knows, by the names model manifests and config use. main (and
// each test or benchmark that loads bundles) fills one at start with AddBuiltinSources and hands
// it, as a shared const object, to whatever opens model bundles (model::ModelRegistry).
//
//   auto sources = std::make_shared<const SourceRegistry>(BuiltinSources());
//   FUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<const Source> s, sources->Load("covisit", bundle_dir));
//   // sources->Load("ials2", dir): "unknown retrieval source 'ials2'; known: popular, ..."
//
// Thread-safety: filled before it is shared, then read-only; Load is safe from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "funnel/core/registry.h"
#include "funnel/core/status.h"
#include "funnel/retrieval/source.h"

namespace funnel::retrieval {

// Reads a source that Source::Save wrote under `dir`. The name is passed on because one kind
// can serve several names (popular and trending are both popularity counts).
using SourceLoader =
    std::function<StatusOr<std::shared_ptr<const Source>>(std::string_view name, const std::string& dir)>;

class SourceRegistry : public Registry<SourceLoader> {
 public:
  SourceRegistry() : Registry("retrieval source") {}

  // The source `name` saved under `dir`; an unknown name answers with the known ones.
  StatusOr<std::shared_ptr<const Source>> Load(std::string_view name, const std::string& dir) const;
};

// Adds popular, trending, fresh, covisit, ials and ease, in that order (the order messages list
// them in, and the training fit table's: training/retrieval_trainer.h).
Status AddBuiltinSources(SourceRegistry& registry);

// A registry holding just the built-in sources.
SourceRegistry BuiltinSources();

}  // namespace funnel::retrieval
