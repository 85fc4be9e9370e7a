// FOR INTERNAL USE. gRPC settings shared by the host's channel and the
// worker's server.
#ifndef IW_RUNTIME_INTERNAL_GRPC_CONFIG_H_
#define IW_RUNTIME_INTERNAL_GRPC_CONFIG_H_

#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include "runtime/codegen_support/service_info.h"

namespace iw::internal {

// Largest message either side sends or accepts (gRPC's own default is 4 MiB
// for receiving, too small for the bulk work workers are made for).
inline constexpr int kDefaultMaxMessageBytes = 64 << 20;

// Channel arguments for a host talking to a worker of `service`.
grpc::ChannelArguments HostChannelArguments(const ServiceInfo& service);
// Server settings of a worker serving `service`.
void ConfigureServer(const ServiceInfo& service, grpc::ServerBuilder& builder);

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_GRPC_CONFIG_H_
