#include "runtime/process/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/process/child_rlimits.h"

namespace iw::internal {
namespace {

// Stages of the child between fork and exec; reported with errno.
enum ChildStage : int32_t {
  kStageDup = 1,
  kStageChdir = 2,
  kStageExec = 3,
  kStageRlimit = 4,
};

struct ChildError {
  int32_t stage;
  int32_t error;
};

// Runs in the child after fork: async-signal-safe calls only.
[[noreturn]] void ChildAfterFork(const SpawnSpec& spec, const ChildRlimits& rlimits,
                                 char* const* argv, char* const* envp, int error_fd) {
  auto fail = [error_fd](int32_t stage) {
    ChildError err{stage, errno};
    ssize_t ignored = ::write(error_fd, &err, sizeof(err));
    (void)ignored;
    ::_exit(127);
  };

  // Default signal dispositions and an empty mask: the worker starts clean
  // whatever the host had blocked or ignored.
  struct sigaction dfl;
  ::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

  if (spec.new_process_group) ::setpgid(0, 0);

  // Move the descriptors to pass above every target first, so that dup2
  // onto a target never clobbers a source still to be moved.
  int max_target = 2;
  for (const auto& [from, to] : spec.fds) max_target = std::max(max_target, to);
  int moved[16];
  size_t count = spec.fds.size() < 16 ? spec.fds.size() : 16;
  for (size_t i = 0; i < count; ++i) {
    moved[i] = ::fcntl(spec.fds[i].first, F_DUPFD_CLOEXEC, max_target + 1);
    if (moved[i] < 0) fail(kStageDup);
  }
  if (error_fd <= max_target) {
    int moved_error = ::fcntl(error_fd, F_DUPFD_CLOEXEC, max_target + 1);
    if (moved_error < 0) fail(kStageDup);
    error_fd = moved_error;
  }
  if (spec.stdout_fd >= 0 && ::dup2(spec.stdout_fd, 1) < 0) fail(kStageDup);
  if (spec.stderr_fd >= 0 && ::dup2(spec.stderr_fd, 2) < 0) fail(kStageDup);
  for (size_t i = 0; i < count; ++i) {
    if (::dup2(moved[i], spec.fds[i].second) < 0) fail(kStageDup);
  }
  // Below the highest target, close every descriptor that is not a target
  // (a non-CLOEXEC fd of the host at e.g. 5 would otherwise survive a
  // mapping to 3 and 6).
  for (int fd = 3; fd <= max_target; ++fd) {
    bool is_target = false;
    for (size_t i = 0; i < count; ++i) is_target |= spec.fds[i].second == fd;
    if (!is_target) ::close(fd);
  }
  // Everything above the targets is closed on exec (the error pipe must
  // stay open until exec succeeds, so mark instead of closing).
  // close_range() needs Linux 5.11 (CLOSE_RANGE_CLOEXEC); before that, mark
  // descriptor by descriptor up to the open-files limit.
  if (::syscall(SYS_close_range, max_target + 1, ~0U, /*CLOSE_RANGE_CLOEXEC=*/4U) != 0) {
    for (int fd = max_target + 1; fd < rlimits.max_fd; ++fd) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  // Resource limits last: a small open-files limit must not break the
  // descriptor shuffling above.
  if (!ApplyRlimits(rlimits)) fail(kStageRlimit);

  if (!spec.working_directory.empty() && ::chdir(spec.working_directory.c_str()) != 0) {
    fail(kStageChdir);
  }
  ::execve(spec.executable.c_str(), argv, envp);
  fail(kStageExec);
  ::_exit(127);  // not reached
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const SpawnSpec& spec) {
  if (spec.executable.empty()) {
    return absl::InvalidArgumentError("spawn: the executable path is empty");
  }
  if (spec.fds.size() > 16) {
    return absl::InvalidArgumentError("spawn: at most 16 descriptors can be passed");
  }
  // Everything the child needs is built before fork: the child allocates
  // nothing.
  std::vector<std::string> argv_strings =
      spec.argv.empty() ? std::vector<std::string>{spec.executable} : spec.argv;
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = spec.env;
  std::vector<char*> envp;
  for (auto& var : env_strings) envp.push_back(var.data());
  envp.push_back(nullptr);

  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "spawn: pipe2()");
  }
  UniqueFd error_read(error_pipe[0]);
  UniqueFd error_write(error_pipe[1]);

  const ChildRlimits rlimits = ComputeRlimits(spec.limits);

  pid_t pid = ::fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "spawn: fork()");
  if (pid == 0) ChildAfterFork(spec, rlimits, argv.data(), envp.data(), error_write.get());

  error_write.reset();
  UniqueFd pidfd(PidfdOpen(pid));
  if (!pidfd.valid()) {
    int saved = errno;
    ::kill(pid, SIGKILL);
    int ignored;
    ::waitpid(pid, &ignored, 0);
    return absl::ErrnoToStatus(saved, "spawn: pidfd_open()");
  }
  auto child = std::unique_ptr<Subprocess>(new Subprocess(pid, std::move(pidfd), spec.limits));

  ChildError err;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(err))) {
    child->Wait(absl::InfiniteFuture());  // it _exit()s right after writing
    const char* what = err.stage == kStageExec     ? "exec"
                       : err.stage == kStageChdir  ? "chdir to"
                       : err.stage == kStageRlimit ? "set resource limits for"
                                                   : "set up descriptors for";
    const std::string& object = err.stage == kStageChdir ? spec.working_directory : spec.executable;
    return absl::ErrnoToStatus(err.error, absl::StrCat(what, " ", object));
  }
  return child;
}

Subprocess::~Subprocess() {
  if (!TryReap().has_value()) {
    Signal(SIGKILL, /*group=*/true);
    Wait(absl::InfiniteFuture());
  }
}

void Subprocess::Signal(int signal, bool group) {
  absl::MutexLock lock(&mu_);
  if (exit_status_.has_value()) return;
  // Not reaped yet, so the pid (and the process group it leads) cannot have
  // been recycled.
  SignalUnreaped(pid_, pidfd_.get(), signal, group);
}

std::optional<ExitStatus> Subprocess::TryReap() {
  absl::MutexLock lock(&mu_);
  if (exit_status_.has_value()) return exit_status_;
  int wait_status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &wait_status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_status_ = ExitStatus::FromWaitStatus(wait_status);
    exit_status_->limits = limits_;
  }
  return exit_status_;
}

std::optional<ExitStatus> Subprocess::Wait(absl::Time deadline) {
  while (true) {
    if (auto status = TryReap()) return status;
    if (deadline - absl::Now() <= absl::ZeroDuration()) return std::nullopt;
    struct pollfd pfd = {pidfd_.get(), POLLIN, 0};
    ::poll(&pfd, 1, PollTimeoutMs(deadline));
  }
}

std::optional<ExitStatus> Subprocess::exit_status() const {
  absl::MutexLock lock(&mu_);
  return exit_status_;
}

}  // namespace iw::internal
