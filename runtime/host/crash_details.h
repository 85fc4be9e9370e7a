// FOR INTERNAL USE. Building the iw.WorkerCrash payload of death statuses
// (see runtime/worker_crash.h).
#ifndef IW_RUNTIME_HOST_CRASH_DETAILS_H_
#define IW_RUNTIME_HOST_CRASH_DETAILS_H_

#include <string>

#include "absl/status/status.h"
#include "runtime/process/subprocess.h"
#include "runtime/worker_crash.h"

namespace iw::internal {

// `status` with `crash` attached (replacing any earlier one).
inline absl::Status WithCrash(absl::Status status, const WorkerCrash& crash) {
  AttachDetails(status, crash);
  return status;
}

// Exit code or signal, and EXITED / KILLED_BY_SIGNAL as the cause.
inline void SetExit(const ExitStatus& exit, WorkerCrash* crash) {
  if (exit.signaled) {
    crash->set_signal(exit.code);
    crash->set_cause(WorkerCrash::KILLED_BY_SIGNAL);
  } else {
    crash->set_exit_code(exit.code);
    crash->set_cause(WorkerCrash::EXITED);
  }
}

// The stderr tail as plain lines (without the "; last stderr lines:" frame).
inline std::string PlainTail(std::string tail) {
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_CRASH_DETAILS_H_
