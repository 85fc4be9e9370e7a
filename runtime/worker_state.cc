#include "runtime/worker_state.h"

namespace iw {

const char* WorkerStateName(WorkerState state) {
  switch (state) {
    case WorkerState::kStarting:
      return "starting";
    case WorkerState::kReady:
      return "ready";
    case WorkerState::kClosing:
      return "closing";
    case WorkerState::kClosed:
      return "closed";
    case WorkerState::kCrashed:
      return "crashed";
  }
  return "unknown";
}

}  // namespace iw
