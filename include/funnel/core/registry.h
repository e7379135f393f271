// Components by name: the program says which kinds of a component exist (retrieval sources,
// later rankers, re-rank steps, stores, drift tests) by filling a Registry explicitly at start,
// and config names pick from it. Nothing registers itself from a static initializer, so what a
// binary knows is written down in one place, and a typo in config answers with the names that
// would have worked.
//
//   Registry<MakeThing> things("thing");
//   FUNNEL_RETURN_IF_ERROR(things.Add("fast", MakeFast));
//   FUNNEL_ASSIGN_OR_RETURN(const MakeThing* make, things.Find(name));
//   // Find("slwo"): InvalidArgument "unknown thing 'slwo'; known: fast"
//
// Thread-safety: Add is for start-up, before the registry is shared; after that it is
// read-only and Find and Names are safe from any thread (share it as a const object).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "funnel/core/status.h"

namespace funnel {

template <typename Factory>
class Registry {
 public:
  // `kind` names what the registry holds in messages ("retrieval source").
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  // A name registered twice is an error rather than a silent replacement: two components
  // claiming one config name is a bug in whoever fills the registry.
  Status Add(std::string name, Factory factory) {
    if (FindEntry(name) != nullptr) return absl::AlreadyExistsError(Cat(kind_, " '", name, "' is registered twice"));
    entries_.push_back({std::move(name), std::move(factory)});
    return absl::OkStatus();
  }

  // The factory registered as `name`. An unknown name is bad input (it comes from config or a
  // file), so the error lists every known name, in registration order.
  StatusOr<const Factory*> Find(std::string_view name) const {
    if (const Entry* e = FindEntry(name)) return &e->factory;
    std::string known;
    for (const Entry& e : entries_) known += known.empty() ? e.name : Cat(", ", e.name);
    return absl::InvalidArgumentError(Cat("unknown ", kind_, " '", name, "'; known: ", known));
  }

  bool Contains(std::string_view name) const { return FindEntry(name) != nullptr; }

  // Registration order, which is the order messages and help texts list them in.
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) out.push_back(e.name);
    return out;
  }

  const std::string& kind() const { return kind_; }

 private:
  struct Entry {
    std::string name;
    Factory factory;
  };

  // A linear scan: registries hold a handful of entries and are read at load time, not per request.
  const Entry* FindEntry(std::string_view name) const {
    for (const Entry& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }

  std::string kind_;
  std::vector<Entry> entries_;
};

}  // namespace funnel
