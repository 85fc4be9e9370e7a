// FOR INTERNAL USE. Process-wide settings of a worker process (we own the
// process, unlike the host's): malloc thresholds, Abseil's deadlock
// detection, and an early TSC calibration in spawned workers.
#ifndef IW_RUNTIME_WORKER_PROCESS_TUNING_H_
#define IW_RUNTIME_WORKER_PROCESS_TUNING_H_

namespace iw::internal {

// Applies the settings; call once, before serving.
void TuneWorkerProcess();

// Calibrates Abseil's TSC frequency on a detached helper thread (see
// process_tuning.cc). A spawned gRPC-carrier worker does this from a static
// initializer; a native-carrier worker calls this once it is ready, so that
// no thread of its startup is spent on it. Best effort; call once. Does
// nothing where the calibration is done (a worker forked by a fork server
// after WarmUpForkServer()).
void StartTscCalibration();

// Run once in a fork server before it forks its first worker: work whose
// result every worker inherits instead of redoing (Abseil's TSC calibration,
// >= 3 ms here, see CalibrateTsc()). Starts no thread.
void WarmUpForkServer();

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_PROCESS_TUNING_H_
