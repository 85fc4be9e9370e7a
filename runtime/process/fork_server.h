// -----------------------------------------------------------------------------
// File: process/fork_server.h
// -----------------------------------------------------------------------------
//
// A fork server ("zygote", as in Android and Chromium): an executable started
// once with fork+exec, which loads and initialises its libraries, stops at a
// known single-threaded point (fork_server_loop.h) and then forks one child per
// request. A child costs a fork() of an initialised process instead of an
// exec: no dynamic loading, relocation or static initialisers again.
//
// Each child is still its own process with its own pid and process group,
// exactly the environment, descriptors, stdout/stderr and resource limits of
// its request. What differs from exec (and why it is a choice, see
// WorkerOptions::start_mode): the children share the server's address-space
// layout (ASLR) and whatever the server's process held before it stopped
// (memory, open files of its main() before RunWorker()), as Android's and
// Chromium's zygotes do.
//
// `StartChildProcess()` is the entry point: it keeps one server per
// executable and exec-time configuration (arguments, environment, working
// directory, the file itself), restarts one that died, and falls back to
// exec where a server cannot be used (a binary without fork-server support,
// a process that is not single-threaded where it would stop, ...).

#ifndef IW_RUNTIME_PROCESS_FORK_SERVER_H_
#define IW_RUNTIME_PROCESS_FORK_SERVER_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/process/child_process.h"
#include "runtime/process/subprocess.h"
#include "runtime/process/unique_fd.h"

namespace iw::internal {

// What differs between two children of one fork server.
struct ForkRequest {
  // Full environment of the child, "KEY=VALUE".
  std::vector<std::string> env;
  // Descriptors to pass: our fd → fd number in the child (each one of the
  // server's reserved numbers).
  std::vector<std::pair<int, int>> fds;
  // The child's stdout/stderr; -1 keeps the server's (the host's).
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool new_process_group = true;
  ResourceLimits limits;
};

// One running fork server and the connection to it. Thread-safe.
class ForkServer : public std::enable_shared_from_this<ForkServer> {
 public:
  // Starts `spec` as a fork server and waits for its hello until `deadline`.
  // `reserved_fds` are the descriptor numbers children will receive: the
  // server holds them open (on /dev/null) from its start, so that nothing
  // the process opens before it stops takes them (after an exec they would
  // be the host's too). Errors: the exec's (NOT_FOUND, ...);
  // FAILED_PRECONDITION with the server's reason if it refuses (not
  // single-threaded); UNAVAILABLE if it exited without serving (a binary
  // without fork-server support exits with its usage message);
  // DEADLINE_EXCEEDED.
  static absl::StatusOr<std::shared_ptr<ForkServer>> Start(SpawnSpec spec,
                                                           const std::vector<int>& reserved_fds,
                                                           absl::Time deadline);

  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;
  // Closes the connection (the server exits on its own: it never outlives
  // it), then reaps the server. Children already forked live on.
  ~ForkServer();

  // Forks a child as `request` says. The child keeps this server alive (it
  // reports the child's exit status). Errors: the fork's errno
  // (RESOURCE_EXHAUSTED for EAGAIN...), UNAVAILABLE if the server is gone,
  // DEADLINE_EXCEEDED.
  absl::StatusOr<std::unique_ptr<ChildProcess>> Fork(const ForkRequest& request,
                                                     absl::Time deadline);

  // False once the server has ended (crashed, killed) or broke the protocol.
  bool alive() const;
  pid_t pid() const { return process_->pid(); }

 private:
  class Child;

  ForkServer(std::unique_ptr<Subprocess> process, UniqueFd socket);
  void ReadLoop();

  const std::unique_ptr<Subprocess> process_;
  const UniqueFd socket_;
  std::thread reader_;
  absl::Mutex fork_mu_;  // one request at a time
  mutable absl::Mutex mu_;
  uint32_t next_sequence_ ABSL_GUARDED_BY(fork_mu_) = 0;
  bool dead_ ABSL_GUARDED_BY(mu_) = false;
  // Replies not yet taken by their Fork(): sequence → (pid or -errno, pidfd).
  std::map<uint32_t, std::pair<int, UniqueFd>> replies_ ABSL_GUARDED_BY(mu_);
  // Wait statuses of children reaped by the server, until their Child
  // object takes them.
  std::map<pid_t, int> exits_ ABSL_GUARDED_BY(mu_);
};

// Starts a child process for `spec`: with a fork server of `spec`'s
// executable and exec-time configuration when `use_fork_server` (starting
// one, or restarting one that died, as needed), else — or when no server can
// be used — with fork+exec (Subprocess::Start). `per_child_env` names the
// variables of spec.env that differ from child to child: the server starts
// without them and each child gets them. The server's reserved descriptors
// are spec.fds' targets.
//
// A server with no child lingers for kForkServerLinger after its last use,
// then is closed. Servers never outlive this process: each ends when its
// connection to us closes (our exit, however it happens).
absl::StatusOr<std::unique_ptr<ChildProcess>> StartChildProcess(
    const SpawnSpec& spec, const std::vector<std::string>& per_child_env, bool use_fork_server,
    absl::Time deadline);

inline constexpr absl::Duration kForkServerLinger = absl::Seconds(30);

// Closes every fork server without children now (tests; a host that wants
// no idle process left). Returns how many were closed.
int CloseIdleForkServers();

}  // namespace iw::internal

#endif  // IW_RUNTIME_PROCESS_FORK_SERVER_H_
