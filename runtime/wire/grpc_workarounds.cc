#include "runtime/wire/grpc_workarounds.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>

#include <memory>
#include <mutex>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace iw::internal {

void PinGrpcCallbackQueue() {
  static std::once_flag once;
  // Never destroyed (and reachable, so leak checkers do not flag it): its
  // reference on the callback queue lives as long as the process.
  static std::shared_ptr<grpc::Channel>* anchor = nullptr;
  std::call_once(once, [] {
    // It points nowhere; one failed callback call is enough to make it take
    // the reference.
    anchor = new std::shared_ptr<grpc::Channel>(grpc::CreateChannel(
        "unix:/nonexistent/iw-callback-queue-anchor", grpc::InsecureChannelCredentials()));
    grpc::internal::RpcMethod method("/iw.internal.Anchor/Pin",
                                     grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(1)));
    grpc::Slice empty("", 0);
    grpc::ByteBuffer request(&empty, 1), response;
    absl::Notification done;
    grpc::internal::CallbackUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        anchor->get(), method, &context, &request, &response,
        [&done](grpc::Status) { done.Notify(); });
    done.WaitForNotificationWithTimeout(absl::Seconds(5));
  });
}

}  // namespace iw::internal
