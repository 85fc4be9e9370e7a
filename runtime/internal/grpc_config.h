// FOR INTERNAL USE. gRPC settings shared by the host's channel and the
// worker's server.
#ifndef IW_RUNTIME_INTERNAL_GRPC_CONFIG_H_
#define IW_RUNTIME_INTERNAL_GRPC_CONFIG_H_

#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include <cstdint>

#include "runtime/codegen_support/service_info.h"
#include "runtime/options.h"

namespace iw::internal {

// Largest message either side sends or accepts when the .proto sets no limit
// (gRPC's own default is 4 MiB for receiving, too small for the bulk work
// workers are made for).
inline constexpr int kDefaultMaxMessageBytes = 64 << 20;

// The request / reply size limits of `service`: (iw.service)
// max_request_bytes / max_response_bytes, else kDefaultMaxMessageBytes.
// Clamped to [1, INT32_MAX] (gRPC takes an int).
int MaxRequestBytes(const ServiceInfo& service);
int MaxResponseBytes(const ServiceInfo& service);

// Channel arguments for a host talking to a worker of `service`: sends
// requests up to MaxRequestBytes, accepts replies up to MaxResponseBytes.
// Larger messages fail the call with RESOURCE_EXHAUSTED ("Sent message
// larger than max (N vs. M)" / "Received message larger than max ...").
grpc::ChannelArguments HostChannelArguments(const ServiceInfo& service);
// Same, with the host's WorkerOptions::max_request_bytes /
// max_response_bytes overriding the .proto values.
grpc::ChannelArguments HostChannelArguments(const ServiceInfo& service,
                                            const WorkerOptions& options);
// Server settings of a worker serving `service`: accepts requests up to
// MaxRequestBytes, sends replies up to MaxResponseBytes.
void ConfigureServer(const ServiceInfo& service, grpc::ServerBuilder& builder);

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_GRPC_CONFIG_H_
