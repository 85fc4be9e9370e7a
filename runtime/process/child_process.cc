#include "runtime/process/child_process.h"

#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace iw::internal {

std::string SignalName(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  if (abbrev == nullptr) return absl::StrCat("signal ", signal);
  return absl::StrCat("SIG", abbrev);
}

std::string ExitStatus::ToString() const {
  if (unknown) return "ended (exit status unknown: its fork server ended first)";
  if (!signaled) return absl::StrCat("exit code ", code);
  const std::string core = core_dumped ? ", core dumped" : "";
  if (code == SIGXCPU) {
    // The kernel sends SIGXCPU only at the RLIMIT_CPU soft limit.
    return absl::StrCat(
        "exceeded its CPU time limit",
        limits.cpu_time ? absl::StrCat(" of ", absl::FormatDuration(*limits.cpu_time)) : "",
        " (SIGXCPU)", core);
  }
  const char* description = ::sigdescr_np(code);
  std::string result = absl::StrCat("killed by signal ", SignalName(code),
                                    description ? absl::StrCat(" (", description, ")") : "", core);
  const bool memory_death = code == SIGKILL || code == SIGABRT || code == SIGSEGV || code == SIGBUS;
  if (memory_death && limits.address_space_bytes) {
    absl::StrAppend(&result, "; it had an address-space limit of ",
                    *limits.address_space_bytes >> 20,
                    " MiB (ResourceLimits::address_space_bytes) and probably ran out "
                    "of memory");
  }
  if (code == SIGKILL && limits.cpu_time) {
    absl::StrAppend(&result, "; it had a CPU time limit of ",
                    absl::FormatDuration(*limits.cpu_time),
                    " (SIGKILL is sent one CPU second after SIGXCPU)");
  }
  return result;
}

ExitStatus ExitStatus::FromWaitStatus(int wait_status) {
  ExitStatus status;
  if (WIFSIGNALED(wait_status)) {
    status.signaled = true;
    status.code = WTERMSIG(wait_status);
    status.core_dumped = WCOREDUMP(wait_status);
  } else {
    status.code = WEXITSTATUS(wait_status);
  }
  return status;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int PidfdSendSignal(int pidfd, int signal) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

void SignalUnreaped(pid_t pid, int pidfd, int signal, bool group) {
  if (group) ::kill(-pid, signal);
  PidfdSendSignal(pidfd, signal);
}

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
}

}  // namespace iw::internal
