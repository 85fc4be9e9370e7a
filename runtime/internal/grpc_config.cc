#include "runtime/internal/grpc_config.h"

namespace iw::internal {

grpc::ChannelArguments HostChannelArguments(const ServiceInfo& /*service*/) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kDefaultMaxMessageBytes);
  args.SetMaxSendMessageSize(kDefaultMaxMessageBytes);
  // One private connection per worker: never share it with other channels.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

void ConfigureServer(const ServiceInfo& /*service*/, grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(kDefaultMaxMessageBytes);
  builder.SetMaxSendMessageSize(kDefaultMaxMessageBytes);
}

}  // namespace iw::internal
