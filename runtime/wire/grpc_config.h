// FOR INTERNAL USE. gRPC settings shared by the host's channel and the
// worker's server.
#ifndef IW_RUNTIME_WIRE_GRPC_CONFIG_H_
#define IW_RUNTIME_WIRE_GRPC_CONFIG_H_

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

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
int MaxRequestBytes(const codegen::ServiceInfo& service);
int MaxResponseBytes(const codegen::ServiceInfo& service);

// What a host sends and accepts.
struct HostMessageLimits {
  // Largest request the host sends: WorkerOptions::max_request_bytes, else
  // MaxRequestBytes(service).
  int max_request = kDefaultMaxMessageBytes;
  // Largest reply the host accepts: WorkerOptions::max_response_bytes, else
  // MaxResponseBytes(service). Checked by the runtime (GrpcEndpoint, and the
  // worker for the call stream); the channel itself allows
  // kStreamFramingSlack more for the call stream's batch framing.
  int max_reply = kDefaultMaxMessageBytes;
  // Largest call-stream batch: fits what this host sends and what the
  // worker accepts.
  size_t max_stream_batch = 0;
};
// `options` may be null (no host-side overrides).
HostMessageLimits HostLimits(const codegen::ServiceInfo& service, const WorkerOptions* options);

// Channel arguments for a host talking to a worker: sends requests up to
// `limits.max_request` (a larger one fails the call with RESOURCE_EXHAUSTED
// "Sent message larger than max (N vs. M)"), accepts messages up to
// `limits.max_reply` plus kStreamFramingSlack.
grpc::ChannelArguments HostChannelArguments(const HostMessageLimits& limits);
// Server settings of a worker serving `service`: accepts requests up to
// MaxRequestBytes; sends messages up to MaxResponseBytes plus
// kStreamFramingSlack (the reply limit itself is checked by the dispatcher).
void ConfigureServer(const codegen::ServiceInfo& service, grpc::ServerBuilder& builder);

// The value the client sent as metadata `key`, or "" if none.
// The bytes of a received gRPC message, in one string (one copy); empty if
// gRPC cannot give them.
std::string ByteBufferToString(const grpc::ByteBuffer& buffer);

std::string ClientMetadataValue(const grpc::GenericCallbackServerContext& context,
                                absl::string_view key);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_GRPC_CONFIG_H_
