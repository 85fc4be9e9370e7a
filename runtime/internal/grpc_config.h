// FOR INTERNAL USE. gRPC settings shared by the host's channel and the
// worker's server.
#ifndef IW_RUNTIME_INTERNAL_GRPC_CONFIG_H_
#define IW_RUNTIME_INTERNAL_GRPC_CONFIG_H_

#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

namespace iw::internal {

// Largest message either side sends or accepts (gRPC's own default is 4 MiB
// for receiving, too small for the bulk work workers are made for).
inline constexpr int kDefaultMaxMessageBytes = 64 << 20;

grpc::ChannelArguments HostChannelArguments();
void ConfigureServer(grpc::ServerBuilder& builder);

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_GRPC_CONFIG_H_
