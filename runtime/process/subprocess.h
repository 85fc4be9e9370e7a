// -----------------------------------------------------------------------------
// File: process/subprocess.h
// -----------------------------------------------------------------------------
//
// `Subprocess` starts one child process and is the single owner of its exit
// status: it is the only code that reaps the child, so the pid can never be
// recycled under us while we may still signal it.
//
// Example:
//
//   SpawnSpec spec;
//   spec.executable = "/bin/true";
//   spec.argv = {"true"};
//   IW_ASSIGN_OR_RETURN(std::unique_ptr<Subprocess> child, Subprocess::Start(spec));
//   std::optional<ExitStatus> status = child->Wait(absl::Now() + absl::Seconds(1));

#ifndef IW_RUNTIME_PROCESS_SUBPROCESS_H_
#define IW_RUNTIME_PROCESS_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/process/child_process.h"
#include "runtime/process/unique_fd.h"
#include "runtime/resource_limits.h"

namespace iw::internal {

// What to start.
struct SpawnSpec {
  // Path of the executable; never searched in $PATH.
  std::string executable;
  // Full argv, argv[0] included. Empty: {executable}.
  std::vector<std::string> argv;
  // Full environment as "KEY=VALUE" strings.
  std::vector<std::string> env;
  // Empty: inherit the parent's.
  std::string working_directory;
  // Descriptors to pass: parent fd → fd number in the child. Every other
  // descriptor above 2 is closed in the child, O_CLOEXEC or not (a library
  // or another thread of the host may have opened one without O_CLOEXEC, or
  // be between open() and fcntl(FD_CLOEXEC) while we fork).
  std::vector<std::pair<int, int>> fds;
  // Descriptors for the child's stdout/stderr; -1 inherits the parent's.
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Put the child in a process group of its own (so a terminal's Ctrl-C goes
  // to the host only, and Kill() reaches the worker's own children too).
  bool new_process_group = true;
  // Resource limits, applied with setrlimit() between fork and exec. A limit
  // above the host's own hard limit is lowered to it (an unprivileged
  // process cannot raise a hard limit). Core dumps are off by default.
  ResourceLimits limits;
};

// One child process. Thread-safe.
//
// IMPORTANT:
// - Only this object reaps the child (waitpid on its pid, never
//   waitpid(-1)); signals go through a pidfd, so a recycled pid is never hit.
// - The destructor kills (SIGKILL) and reaps a child still running: no zombie
//   is ever left behind.
class Subprocess final : public ChildProcess {
 public:
  // Starts the child with fork+execve. Between fork and exec the child only
  // makes async-signal-safe calls (nothing allocates, locks or logs), so this
  // is safe while other threads (gRPC's) run. Errors: INVALID_ARGUMENT for an
  // empty executable; exec/chdir failures in the child come back through a
  // CLOEXEC error pipe as the errno's status ("exec /path: No such file...").
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const SpawnSpec& spec);

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess() override;

  // The pid; stays valid for logging after reaping.
  pid_t pid() const override { return pid_; }
  // A pidfd: becomes readable when the child exits. Owned by this object.
  int pidfd() const override { return pidfd_.get(); }

  // Sends `signal` to the child (to its whole process group when
  // `group`). Does nothing once the child is reaped.
  void Signal(int signal, bool group = false) override;

  // Reaps the child if it has exited. Returns the exit status once known.
  std::optional<ExitStatus> TryReap() override;
  // Waits until the child exits or `deadline` passes; returns the exit status
  // if it exited.
  std::optional<ExitStatus> Wait(absl::Time deadline) override;
  // The exit status, if already reaped.
  std::optional<ExitStatus> exit_status() const override;

 private:
  Subprocess(pid_t pid, UniqueFd pidfd, const ResourceLimits& limits)
      : pid_(pid), pidfd_(std::move(pidfd)), limits_(limits) {}

  const pid_t pid_;
  const UniqueFd pidfd_;
  const ResourceLimits limits_;
  mutable absl::Mutex mu_;
  std::optional<ExitStatus> exit_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_PROCESS_SUBPROCESS_H_
