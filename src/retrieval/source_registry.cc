#include "funnel/retrieval/source_registry.h"

#include "funnel/retrieval/cf_sources.h"
#include "funnel/retrieval/covisit.h"
#include "funnel/retrieval/fresh.h"
#include "funnel/retrieval/popularity.h"

namespace funnel::retrieval {

namespace {

// Adapts a source type's own Load to the loader signature, so each registration is one line.
template <typename T>
StatusOr<std::shared_ptr<const Source>> LoadNamed(std::string_view name, const std::string& dir) {
  FUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<T> s, T::Load(name, dir));
  return std::shared_ptr<const Source>(std::move(s));
}

// IALS and EASE have one name each and write it into their files themselves.
template <typename T>
StatusOr<std::shared_ptr<const Source>> LoadUnnamed(std::string_view, const std::string& dir) {
  FUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<T> s, T::Load(dir));
  return std::shared_ptr<const Source>(std::move(s));
}

}  // namespace

StatusOr<std::shared_ptr<const Source>> SourceRegistry::Load(std::string_view name, const std::string& dir) const {
  FUNNEL_ASSIGN_OR_RETURN(const SourceLoader* load, Find(name));
  return (*load)(name, dir);
}

Status AddBuiltinSources(SourceRegistry& registry) {
  FUNNEL_RETURN_IF_ERROR(registry.Add("popular", LoadNamed<PopularitySource>));
  FUNNEL_RETURN_IF_ERROR(registry.Add("trending", LoadNamed<PopularitySource>));
  FUNNEL_RETURN_IF_ERROR(registry.Add("fresh", LoadNamed<FreshSource>));
  FUNNEL_RETURN_IF_ERROR(registry.Add("covisit", LoadNamed<CovisitSource>));
  FUNNEL_RETURN_IF_ERROR(registry.Add("ials", LoadUnnamed<IalsSource>));
  FUNNEL_RETURN_IF_ERROR(registry.Add("ease", LoadUnnamed<EaseSource>));
  return absl::OkStatus();
}

SourceRegistry BuiltinSources() {
  SourceRegistry registry;
  // The built-in names are fixed in this file: a clash is a programming error, not bad input.
  FUNNEL_CHECK(AddBuiltinSources(registry).ok());
  return registry;
}

}  // namespace funnel::retrieval
