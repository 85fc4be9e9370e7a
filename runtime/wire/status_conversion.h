// FOR INTERNAL USE. The only place where absl::Status and grpc::Status are
// converted into each other. The numeric codes are identical (both follow
// google.rpc.Code).
#ifndef IW_RUNTIME_WIRE_STATUS_CONVERSION_H_
#define IW_RUNTIME_WIRE_STATUS_CONVERSION_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace iw::internal {

// Called only where a status crosses gRPC: a reactor's Finish(), a
// ClientContext's result, a call stream reply. Payloads travel as the
// status details (see status_details.h).
absl::Status FromGrpcStatus(const grpc::Status& status);
grpc::Status ToGrpcStatus(const absl::Status& status);

// The same for a status carried in a message's fields (the call stream's
// replies): the numeric code, the message and the serialized details.
absl::Status FromStatusFields(int code, absl::string_view message, const std::string& details);
// The payloads of a failed `status` as serialized details (a
// google.rpc.Status), or "" when it has none.
std::string StatusDetails(const absl::Status& status);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_STATUS_CONVERSION_H_
