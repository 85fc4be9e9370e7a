#include "runtime/transport/fd_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/server_posix.h>

#include "absl/status/status.h"

// ThreadSanitizer suppressions for `--config=tsan` builds, read by TSan at
// start-up through the __tsan_default_suppressions hook. They live in this
// file because every host and every worker links it: a separate object
// would not be pulled out of the runtime archive (libtsan's weak default
// already satisfies the symbol). Compiled in rather than passed as
// TSAN_OPTIONS=suppressions=FILE so that worker processes spawned by tests
// get them too, whatever their sandbox and working directory.
//
// Only frames inside the uninstrumented system libraries may be listed:
// Debian's Abseil and gRPC are not built with -fsanitize=thread, so TSan does
// not see their internal synchronisation and reports races that are none:
// - absl::Mutex::UnlockSlow evaluates a waiter's absl::Condition (which lives
//   on the waiter's stack) from the unlocking thread;
// - absl's deadlock detector (GraphCycles) copies its tables under its own
//   lock;
// - gRPC's epoll poller hands epoll events between threads.
// A report whose stacks have no frame of these libraries is a real race in
// our code: never add our own functions here.

#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_suppressions() {
  return "race:libabsl_synchronization.so\n"
         "race:libgrpc.so\n"
         "race:libgpr.so\n"
         "race:absl::*Mutex::UnlockSlow\n"
         "race:absl::*synchronization_internal::GraphCycles\n"
         "race:grpc_event_engine::posix_engine::Epoll1Poller\n";
}
#endif

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

std::shared_ptr<grpc::Channel> CreateChannelOverFd(
    UniqueFd fd, const grpc::ChannelArguments& args) {
  return grpc::CreateCustomInsecureChannelFromFd("iw-worker", fd.release(), args);
}

absl::Status ServeOverFd(grpc::Server* server, UniqueFd fd) {
  if (absl::Status s = SetNonBlocking(fd.get()); !s.ok()) return s;
  grpc::AddInsecureChannelFromFd(server, fd.release());
  return absl::OkStatus();
}

}  // namespace iw::internal
