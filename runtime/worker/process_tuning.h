// FOR INTERNAL USE. Process-wide settings of a worker process (we own the
// process, unlike the host's): malloc thresholds, Abseil's deadlock
// detection, and an early TSC calibration in spawned workers.
#ifndef IW_RUNTIME_WORKER_PROCESS_TUNING_H_
#define IW_RUNTIME_WORKER_PROCESS_TUNING_H_

namespace iw::internal {

// Applies the settings; call once, before serving.
void TuneWorkerProcess();

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_PROCESS_TUNING_H_
