// The embedded descriptor set (see grpc_operational_protos.h). The bytes come
// from grpc_operational_protos.inc, which the build writes with
// embed_grpc_protos.sh.

#include "runtime/worker/grpc_operational_protos.h"

namespace iw::internal {

const unsigned char kGrpcOperationalProtos[] = {
#include "runtime/worker/grpc_operational_protos.inc"
};
const size_t kGrpcOperationalProtosSize = sizeof(kGrpcOperationalProtos);

}  // namespace iw::internal
