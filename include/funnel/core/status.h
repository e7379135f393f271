// Funnel's one error type: absl::Status / absl::StatusOr.
//
// Expected conditions (unknown user, empty history, cold item) are values, not errors.
// Bad input returns a status whose message a user can act on: where, what, why.
// Exceptions never cross Funnel's interfaces; broken invariants abort via FUNNEL_CHECK.
// Thread-safety: value types and macros; nothing shared.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace funnel {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

// Concatenates anything fmt can print. Debian's abseil is built with its own string_view type,
// so absl::StrCat rejects std::string_view; messages are built with this instead.
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (fmt::format_to(std::back_inserter(out), "{}", args), ...);
  return out;
}

// A status message as std::string_view (absl returns its own string_view type).
inline std::string_view MessageOf(const Status& s) { return {s.message().data(), s.message().size()}; }

}  // namespace funnel

#define FUNNEL_CONCAT_INNER(a, b) a##b
#define FUNNEL_CONCAT(a, b) FUNNEL_CONCAT_INNER(a, b)

#define FUNNEL_RETURN_IF_ERROR(expr)                                   \
  do {                                                                 \
    ::absl::Status FUNNEL_CONCAT(funnel_status_, __LINE__) = (expr);   \
    if (!FUNNEL_CONCAT(funnel_status_, __LINE__).ok())                 \
      return FUNNEL_CONCAT(funnel_status_, __LINE__);                  \
  } while (0)

#define FUNNEL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(*tmp)

// FUNNEL_ASSIGN_OR_RETURN(auto x, MaybeX()); returns the error status when MaybeX() fails.
#define FUNNEL_ASSIGN_OR_RETURN(lhs, expr) \
  FUNNEL_ASSIGN_OR_RETURN_IMPL(FUNNEL_CONCAT(funnel_statusor_, __LINE__), lhs, expr)

// Invariant checks stay on in release builds (unlike assert): a broken invariant aborts loudly.
#define FUNNEL_CHECK(cond)                                                        \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                               \
    }                                                                             \
  } while (0)
