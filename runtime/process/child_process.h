// -----------------------------------------------------------------------------
// File: process/child_process.h
// -----------------------------------------------------------------------------
//
// `ChildProcess` is one started process as its supervisor sees it: a pid, a
// pidfd that becomes readable when it exits, signals that can never reach a
// recycled pid, and its exit status. Two kinds exist: a `Subprocess` (fork +
// exec by this process, which reaps it) and a child of a fork server
// (fork_server.h), reaped by the server, which reports its exit status.

#ifndef IW_RUNTIME_PROCESS_CHILD_PROCESS_H_
#define IW_RUNTIME_PROCESS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "runtime/resource_limits.h"

namespace iw::internal {

// How a process ended.
struct ExitStatus {
  bool signaled = false;  // killed by a signal
  int code = 0;           // exit code, or the signal number when `signaled`
  bool core_dumped = false;
  // The process ended but how is not known: it was a fork server's child and
  // the server ended before it could report (code and signaled say nothing).
  bool unknown = false;

  // The resource limits the process ran under (SpawnSpec::limits), so that
  // ToString() can explain a death caused by one.
  ResourceLimits limits;

  bool success() const { return !unknown && !signaled && code == 0; }
  // "exit code 3", "killed by signal SIGSEGV (Segmentation fault)";
  // "exceeded its CPU time limit of 1s (SIGXCPU)". A SIGKILL, SIGABRT,
  // SIGSEGV or SIGBUS of a process with an address-space limit adds that it
  // probably ran out of memory (allocation failures under RLIMIT_AS surface
  // as std::bad_alloc → abort, a NULL-check abort, or a fault in a stack or
  // mmap that could not grow).
  std::string ToString() const;
  static ExitStatus FromWaitStatus(int wait_status);
};

// "SIGSEGV" for SIGSEGV; "signal 42" for unknown numbers.
std::string SignalName(int signal);

// One started process. Implementations are thread-safe.
//
// IMPORTANT: signals go through a pidfd (or to the process group only while
// the process is known to be unreaped), never to a pid that may have been
// recycled.
class ChildProcess {
 public:
  virtual ~ChildProcess() = default;

  // The pid; stays valid for logging after the process ended.
  virtual pid_t pid() const = 0;
  // Becomes readable when the process exits. Owned by this object.
  virtual int pidfd() const = 0;
  // Sends `signal` to the process (to its whole process group when
  // `group`). Does nothing once its exit status is known.
  virtual void Signal(int signal, bool group = false) = 0;
  // The exit status if the process has exited and its status is known.
  virtual std::optional<ExitStatus> TryReap() = 0;
  // Waits until the process has exited and its status is known, or until
  // `deadline`.
  virtual std::optional<ExitStatus> Wait(absl::Time deadline) = 0;
  // The exit status, if already known.
  virtual std::optional<ExitStatus> exit_status() const = 0;
};

// The system calls and waits both kinds of child are built on.
// pidfd_open(2): a descriptor of process `pid` (-1 with errno on failure).
int PidfdOpen(pid_t pid);
// pidfd_send_signal(2); never reaches a recycled pid.
int PidfdSendSignal(int pidfd, int signal);
// Sends `signal` through `pidfd`, and first to the process group `pid` leads
// when `group`. Only while the process is known not to be reaped (else the
// group id may have been recycled): callers check under their lock.
void SignalUnreaped(pid_t pid, int pidfd, int signal, bool group);
// A poll(2) timeout for `deadline`: -1 for InfiniteFuture, else the
// milliseconds left, rounded up, at least 0.
int PollTimeoutMs(absl::Time deadline);

}  // namespace iw::internal

#endif  // IW_RUNTIME_PROCESS_CHILD_PROCESS_H_
