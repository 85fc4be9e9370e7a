#include "runtime/worker_crash.h"

namespace iw {

const char* WorkerCrashCauseName(WorkerCrash::Cause cause) {
  switch (cause) {
    case WorkerCrash::EXITED:
      return "exited";
    case WorkerCrash::KILLED_BY_SIGNAL:
      return "killed by signal";
    case WorkerCrash::DEADLINE_REPLACEMENT:
      return "deadline replacement";
    case WorkerCrash::PROTOCOL_ERROR:
      return "protocol error";
    case WorkerCrash::SPAWN_FAILURE:
      return "spawn failure";
    case WorkerCrash::CONNECTION_LOST:
      return "connection lost";
    case WorkerCrash::KILLED_BY_HOST:
      return "killed by the host";
    default:
      return "unspecified";
  }
}

}  // namespace iw
