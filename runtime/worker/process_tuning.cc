#include "runtime/worker/process_tuning.h"

#include <malloc.h>
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

// The one Abseil-internal header the runtime includes (pinned to Debian's
// Abseil 20220623): nothing public triggers the TSC calibration early. See
// CalibrateTsc() and docs/startup-notes.md.
#include "absl/base/internal/sysinfo.h"
#include "absl/synchronization/mutex.h"
#include "runtime/wire/control_protocol.h"

namespace iw::internal {
namespace {

// The first time a thread of a process blocks on a contended absl::Mutex,
// Abseil calibrates the TSC (base_internal::NominalCPUFrequency(), called
// from the Mutex's wait queue to pace priority re-reads). Without
// /sys/devices/system/cpu/cpu0/tsc_freq_khz (this kernel has none) that is
// nanosleep(1 ms), nanosleep(2 ms), ... until two measurements agree: >= 3 ms,
// during which the blocked thread holds the Mutex's internal spin bit. In a
// freshly spawned worker that thread is one of the handler executor's, so the
// first call's handoff to the executor waited for the calibration (~2 ms of
// spawn -> first reply). Started here, on a helper thread before the other
// static initializers (priority 101), only in processes a host spawned as
// workers, it is done before the first call arrives.
//
// A worker on the native carrier has no gRPC threads: nothing of its
// startup or of a lone call blocks on an absl::Mutex (only concurrent calls
// contend, on the carrier's lock), so it calibrates only once it has sent
// its ready byte (ServeNative), keeping the helper thread and its wake-ups
// out of spawn -> ready (docs/startup-notes.md, 2026-12-02).
// Set once the calibration is done in this process, or in the fork server
// it was forked from (the flag is inherited with the memory).
std::atomic<bool> g_tsc_calibrated{false};

void* CalibrateTsc(void*) {
  absl::base_internal::NominalCPUFrequency();
  g_tsc_calibrated.store(true, std::memory_order_relaxed);
  return nullptr;
}

__attribute__((constructor(101))) void StartTscCalibrationInSpawnedWorker() {
  if (std::getenv(kControlFdEnv) == nullptr) return;
  const char* carrier = std::getenv(kCarrierEnv);
  if (carrier != nullptr && std::strcmp(carrier, kCarrierNative) == 0) return;
  StartTscCalibration();
}

}  // namespace

void StartTscCalibration() {
  // A worker forked by a warmed-up fork server has it already.
  if (g_tsc_calibrated.load(std::memory_order_relaxed)) return;
  pthread_attr_t attr;
  if (::pthread_attr_init(&attr) != 0) return;
  ::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  ::pthread_create(&thread, &attr, CalibrateTsc, nullptr);  // best effort
  ::pthread_attr_destroy(&attr);
}

// Process-wide settings that pay off in a worker (we own the process).
void TuneWorkerProcess() {
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex operation
  // feeds a global deadlock-detection graph: ~5% of all CPU at full load.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Keep multi-MiB message buffers in the heap instead of mmap/munmap per
  // message (page faults dominated 16 MiB echoes: 2-3x slower).
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

void WarmUpForkServer() { CalibrateTsc(nullptr); }

}  // namespace iw::internal
