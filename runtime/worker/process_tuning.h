// FOR INTERNAL USE. Process-wide settings of a worker process (we own the
// process, unlike the host's): malloc thresholds, Abseil's deadlock
// detection, and an early TSC calibration in spawned workers.
#ifndef IW_RUNTIME_WORKER_PROCESS_TUNING_H_
#define IW_RUNTIME_WORKER_PROCESS_TUNING_H_

namespace iw::internal {

// Applies the settings; call once, before serving.
void TuneWorkerProcess();

// Run once in a fork server before it forks its first worker: work whose
// result every worker inherits instead of redoing (Abseil's TSC calibration,
// >= 3 ms here, see CalibrateTsc()). Starts no thread.
void WarmUpForkServer();

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_PROCESS_TUNING_H_
