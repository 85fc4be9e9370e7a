// A "worker" whose ready message comes from another process: it forks and
// the child sends the ready byte (with the child's own, kernel-verified
// credentials) on the inherited control socket. The host must refuse it.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "runtime/transport/peer_credentials.h"
#include "runtime/wire/control_protocol.h"

int main() {
  pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) {
    absl::Status sent = iw::internal::SendReady(iw::internal::kWorkerControlFd);
    ::_exit(sent.ok() ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  // Stay alive until the host kills us (bounded, in case it does not).
  ::sleep(30);
  return 0;
}
