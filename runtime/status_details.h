// -----------------------------------------------------------------------------
// File: status_details.h
// -----------------------------------------------------------------------------
//
// Structured error details: a handler attaches a protobuf message to the
// status it returns; the host reads it back as that type. On the wire they
// travel as gRPC's standard status details (a google.rpc.Status whose
// `details` are google.protobuf.Any), so other gRPC clients can read them
// too.
//
// Example:
//
//   // worker
//   absl::Status status = absl::InvalidArgumentError("bad quantity");
//   demo::FieldViolation violation;
//   violation.set_field("quantity");
//   iw::AttachDetails(status, violation);
//   return status;
//
//   // host
//   absl::StatusOr<demo::OrderReply> reply = host->Order(request);
//   if (auto violation = iw::GetDetails<demo::FieldViolation>(reply.status())) {
//     std::cerr << "bad field: " << violation->field();
//   }
//
// A status holds at most one detail per message type (attaching the same type
// again replaces it). Details of an OK status are dropped.

#ifndef IW_RUNTIME_STATUS_DETAILS_H_
#define IW_RUNTIME_STATUS_DETAILS_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"

namespace iw {

// The type URL a detail of message type `full_name` is stored under
// ("type.googleapis.com/<full_name>", as in google.protobuf.Any).
inline std::string DetailsTypeUrl(absl::string_view full_name) {
  return absl::StrCat("type.googleapis.com/", full_name);
}

// Attaches `details` to `status` (a no-op for an OK status).
inline void AttachDetails(absl::Status& status, const google::protobuf::MessageLite& details) {
  if (status.ok()) return;
  status.SetPayload(DetailsTypeUrl(details.GetTypeName()), absl::Cord(details.SerializeAsString()));
}

// The detail of type T attached to `status`, if any (and if it parses).
template <class T>
std::optional<T> GetDetails(const absl::Status& status) {
  auto payload = status.GetPayload(DetailsTypeUrl(T::default_instance().GetTypeName()));
  if (!payload.has_value()) return std::nullopt;
  T message;
  if (!message.ParseFromString(std::string(*payload))) return std::nullopt;
  return message;
}

}  // namespace iw

#endif  // IW_RUNTIME_STATUS_DETAILS_H_
