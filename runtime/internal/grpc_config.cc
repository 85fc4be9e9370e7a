#include "runtime/internal/grpc_config.h"

#include <algorithm>
#include <limits>

namespace iw::internal {
namespace {

int ClampLimit(int64_t bytes) {
  if (bytes <= 0) return kDefaultMaxMessageBytes;
  return static_cast<int>(
      std::min<int64_t>(bytes, std::numeric_limits<int32_t>::max()));
}

grpc::ChannelArguments ChannelArguments(int max_send, int max_receive) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(max_send);
  args.SetMaxReceiveMessageSize(max_receive);
  // One private connection per worker: never share it with other channels.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

}  // namespace

int MaxRequestBytes(const ServiceInfo& service) {
  return ClampLimit(service.max_request_bytes);
}

int MaxResponseBytes(const ServiceInfo& service) {
  return ClampLimit(service.max_response_bytes);
}

grpc::ChannelArguments HostChannelArguments(const ServiceInfo& service) {
  return ChannelArguments(MaxRequestBytes(service), MaxResponseBytes(service));
}

grpc::ChannelArguments HostChannelArguments(const ServiceInfo& service,
                                            const WorkerOptions& options) {
  return ChannelArguments(
      options.max_request_bytes ? ClampLimit(*options.max_request_bytes)
                                : MaxRequestBytes(service),
      options.max_response_bytes ? ClampLimit(*options.max_response_bytes)
                                 : MaxResponseBytes(service));
}

void ConfigureServer(const ServiceInfo& service, grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(MaxRequestBytes(service));
  builder.SetMaxSendMessageSize(MaxResponseBytes(service));
}

}  // namespace iw::internal
