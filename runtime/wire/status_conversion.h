// FOR INTERNAL USE. The only place where absl::Status and grpc::Status are
// converted into each other. The numeric codes are identical (both follow
// google.rpc.Code).
#ifndef IW_RUNTIME_WIRE_STATUS_CONVERSION_H_
#define IW_RUNTIME_WIRE_STATUS_CONVERSION_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace iw::internal {

absl::Status FromGrpcStatus(const grpc::Status& status);
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_STATUS_CONVERSION_H_
