#include "runtime/wire/grpc_config.h"

#include <grpcpp/generic/async_generic_service.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "runtime/wire/call_stream_protocol.h"

namespace iw::internal {
namespace {

int ClampLimit(int64_t bytes) {
  if (bytes <= 0) return kDefaultMaxMessageBytes;
  return static_cast<int>(std::min<int64_t>(bytes, std::numeric_limits<int32_t>::max()));
}

int WithFramingSlack(int limit) {
  return static_cast<int>(
      std::min<int64_t>(int64_t{limit} + kStreamFramingSlack, std::numeric_limits<int32_t>::max()));
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

int MaxRequestBytes(const codegen::ServiceInfo& service) {
  return ClampLimit(service.max_request_bytes);
}

int MaxResponseBytes(const codegen::ServiceInfo& service) {
  return ClampLimit(service.max_response_bytes);
}

HostMessageLimits HostLimits(const codegen::ServiceInfo& service, const WorkerOptions* options) {
  HostMessageLimits limits;
  limits.max_request = options != nullptr && options->max_request_bytes
                           ? ClampLimit(*options->max_request_bytes)
                           : MaxRequestBytes(service);
  limits.max_reply = options != nullptr && options->max_response_bytes
                         ? ClampLimit(*options->max_response_bytes)
                         : MaxResponseBytes(service);
  // Headroom for the batch message's own framing.
  constexpr size_t kBatchFraming = 64;
  const size_t batch =
      std::min<size_t>({kStreamMaxBatchBytes, static_cast<size_t>(limits.max_request),
                        static_cast<size_t>(MaxRequestBytes(service))});
  limits.max_stream_batch = batch > kBatchFraming ? batch - kBatchFraming : 0;
  return limits;
}

grpc::ChannelArguments HostChannelArguments(const HostMessageLimits& limits) {
  return ChannelArguments(limits.max_request, WithFramingSlack(limits.max_reply));
}

void ConfigureServer(const codegen::ServiceInfo& service, grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(MaxRequestBytes(service));
  builder.SetMaxSendMessageSize(WithFramingSlack(MaxResponseBytes(service)));
}

std::string ClientMetadataValue(const grpc::GenericCallbackServerContext& context,
                                absl::string_view key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

std::string ByteBufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

}  // namespace iw::internal
