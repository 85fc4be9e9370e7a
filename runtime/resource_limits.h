// -----------------------------------------------------------------------------
// File: resource_limits.h
// -----------------------------------------------------------------------------
//
// Per-worker resource limits (`WorkerOptions::limits`), applied by the
// process layer between fork and exec.

#ifndef IW_RUNTIME_RESOURCE_LIMITS_H_
#define IW_RUNTIME_RESOURCE_LIMITS_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <cstdint>
#include <optional>

#include "absl/time/time.h"

namespace iw {

// Per-worker resource limits, set with setrlimit() in the child between fork
// and exec, so they bind from the worker's first instruction. Unset = the
// host's own limit is inherited.
//
// OS pitfalls:
// - The CPU limit counts CPU seconds, not wall time: a worker blocked in a
//   call does not use it up. At the limit the kernel sends SIGXCPU (the
//   worker dies, reported as "exceeded its CPU time limit"); one second of
//   CPU later it would send SIGKILL.
// - The address-space limit caps *virtual* memory (RLIMIT_AS), which is more
//   than the resident set: thread stacks, arenas and mapped files count.
//   Sanitizer builds (ASan, TSan) reserve terabytes of virtual memory and
//   cannot start under any address-space limit.
// - Limits are per process and inherited, not shared, by the worker's own
//   children: a worker that forks N children may use N times the limit.
struct ResourceLimits {
  // RLIMIT_AS: the worker's virtual address space, in bytes.
  std::optional<uint64_t> address_space_bytes;
  // RLIMIT_CPU: CPU time (user + system), rounded up to whole seconds.
  std::optional<absl::Duration> cpu_time;
  // RLIMIT_NOFILE: one more than the highest descriptor number the worker may
  // open. gRPC itself needs a dozen or so.
  std::optional<uint64_t> open_files;
  // Core dumps are off (RLIMIT_CORE 0) unless this is true, in which case the
  // host's own core limit is inherited. A worker's memory may hold data the
  // host handed it; a core file would write it to disk.
  bool allow_core_dumps = false;
};

}  // namespace iw

#endif  // IW_RUNTIME_RESOURCE_LIMITS_H_
