#include "runtime/transport/fd_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/server_posix.h>

#include "absl/status/status.h"

namespace iw::internal {

absl::StatusOr<SocketPair> CreateSocketPair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair()");
  }
  return SocketPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

absl::Status SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return absl::ErrnoToStatus(errno, "fcntl(O_NONBLOCK)");
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> CreateChannelOverFd(UniqueFd fd,
                                                   const grpc::ChannelArguments& args) {
  return grpc::CreateCustomInsecureChannelFromFd("iw-worker", fd.release(), args);
}

absl::Status ServeOverFd(grpc::Server* server, UniqueFd fd) {
  if (absl::Status s = SetNonBlocking(fd.get()); !s.ok()) return s;
  grpc::AddInsecureChannelFromFd(server, fd.release());
  return absl::OkStatus();
}

}  // namespace iw::internal
