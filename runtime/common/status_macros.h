// FOR INTERNAL USE. Status macros (Abseil 20220623 has none). Delete when the
// pinned Abseil ships absl/status/status_macros.h.
#ifndef IW_RUNTIME_COMMON_STATUS_MACROS_H_
#define IW_RUNTIME_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace iw::internal {

// `status` with another message, keeping its payloads (structured details,
// iw.WorkerCrash).
inline absl::Status WithMessage(const absl::Status& status, absl::string_view message) {
  absl::Status result(status.code(), message);
  status.ForEachPayload([&result](absl::string_view type_url, const absl::Cord& payload) {
    result.SetPayload(type_url, payload);
  });
  return result;
}

// `status` with "<prefix>: " before its message; the code and payloads are
// kept. OK stays OK.
inline absl::Status Prefixed(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  return WithMessage(status, absl::StrCat(prefix, ": ", status.message()));
}

}  // namespace iw::internal

#define IW_INTERNAL_CONCAT_IMPL(a, b) a##b
#define IW_INTERNAL_CONCAT(a, b) IW_INTERNAL_CONCAT_IMPL(a, b)

// Returns `expr` from the enclosing function if it is not OK.
#define IW_RETURN_IF_ERROR(expr)                             \
  do {                                                       \
    ::absl::Status iw_internal_status = (expr);              \
    if (!iw_internal_status.ok()) return iw_internal_status; \
  } while (false)

// `IW_ASSIGN_OR_RETURN(auto x, MakeX());` declares/assigns `x` from a
// StatusOr, or returns its status.
#define IW_ASSIGN_OR_RETURN(lhs, expr) \
  IW_INTERNAL_ASSIGN_OR_RETURN(IW_INTERNAL_CONCAT(iw_statusor_, __LINE__), lhs, expr)
#define IW_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(*tmp)

#endif  // IW_RUNTIME_COMMON_STATUS_MACROS_H_
