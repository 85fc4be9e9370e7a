// -----------------------------------------------------------------------------
// File: worker_crash.h
// -----------------------------------------------------------------------------
//
// Every status that reports a worker's death carries an `iw::WorkerCrash`
// (proto/isolated_workers/worker_crash.proto) in its details: the cause
// (exited, killed by a signal, replaced after a deadline overrun, failed to
// start, remote connection lost, ...), the pid, the exit code or signal, the
// stderr tail, the method and the attempt numbers. A program can tell a crash
// from a handler that returned UNAVAILABLE (which never carries one: the host
// drops any iw.WorkerCrash a worker sends) without parsing the message.
//
// Example:
//
//   absl::StatusOr<ConvertReply> reply = host->Convert(request);
//   if (std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(reply.status())) {
//     if (crash->cause() == iw::WorkerCrash::KILLED_BY_SIGNAL && crash->signal() == SIGSEGV) {
//       QuarantineInput(request);
//     }
//   }
#ifndef IW_RUNTIME_WORKER_CRASH_H_
#define IW_RUNTIME_WORKER_CRASH_H_

#include <optional>

#include "absl/status/status.h"
#include "isolated_workers/worker_crash.pb.h"
#include "runtime/status_details.h"

namespace iw {

// The crash a status reports, if it reports one.
inline std::optional<WorkerCrash> WorkerCrashOf(const absl::Status& status) {
  return GetDetails<WorkerCrash>(status);
}

// "killed by signal", "spawn failure", ... (for logs).
const char* WorkerCrashCauseName(WorkerCrash::Cause cause);

}  // namespace iw

#endif  // IW_RUNTIME_WORKER_CRASH_H_
