// FOR INTERNAL USE. The FileDescriptorSet of gRPC's standard operational
// protos (grpc/health/v1/health.proto, grpc/reflection/v1alpha/reflection.proto,
// grpc/reflection/v1/reflection.proto), embedded at build time from Debian's
// grpc-proto package by embed_grpc_protos.sh. Data only: no message classes,
// nothing registered in the generated descriptor pool.
#ifndef IW_RUNTIME_WORKER_GRPC_OPERATIONAL_PROTOS_H_
#define IW_RUNTIME_WORKER_GRPC_OPERATIONAL_PROTOS_H_

#include <cstddef>

namespace iw::internal {

// A serialized google.protobuf.FileDescriptorSet.
extern const unsigned char kGrpcOperationalProtos[];
extern const size_t kGrpcOperationalProtosSize;

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_GRPC_OPERATIONAL_PROTOS_H_
