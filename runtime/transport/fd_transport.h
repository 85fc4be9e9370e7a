// -----------------------------------------------------------------------------
// File: transport/fd_transport.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. The one seam between the runtime and the OS transport.
//
// Today the transport is an AF_UNIX socketpair created by the host: one end
// stays in the host (gRPC channel), the other is inherited by the worker
// (gRPC server). No filesystem path exists, so no other process can connect,
// nothing is left behind, and there is no sun_path length limit. A Windows
// port replaces this file (see docs/design/windows.md).

#ifndef IW_RUNTIME_TRANSPORT_FD_TRANSPORT_H_
#define IW_RUNTIME_TRANSPORT_FD_TRANSPORT_H_

#include <grpcpp/channel.h>
#include <grpcpp/server.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/process/unique_fd.h"

namespace iw::internal {

// Both ends of a connected stream socket pair, O_CLOEXEC.
struct SocketPair {
  UniqueFd host;
  UniqueFd worker;
};

// Creates a connected AF_UNIX stream socketpair (both ends O_CLOEXEC).
absl::StatusOr<SocketPair> CreateSocketPair();

// Makes `fd` non-blocking. gRPC 1.51's fd transports require it on both ends:
// with a blocking fd the first call hangs silently.
absl::Status SetNonBlocking(int fd);

// Host side: a gRPC channel speaking HTTP/2 over `fd` (takes ownership).
std::shared_ptr<grpc::Channel> CreateChannelOverFd(UniqueFd fd, const grpc::ChannelArguments& args);

// Worker side: serves `server` over `fd` (takes ownership).
absl::Status ServeOverFd(grpc::Server* server, UniqueFd fd);

}  // namespace iw::internal

#endif  // IW_RUNTIME_TRANSPORT_FD_TRANSPORT_H_
