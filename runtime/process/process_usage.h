// FOR INTERNAL USE. Resource usage of a live process read from /proc: its
// resident memory and the CPU time it has used.
//
// Linux only (docs/design/windows.md: GetProcessMemoryInfo and
// GetProcessTimes are the seam's Windows side). Each read opens two small
// files (~10-30 µs): callers bound how often they read.
#ifndef IW_RUNTIME_PROCESS_PROCESS_USAGE_H_
#define IW_RUNTIME_PROCESS_PROCESS_USAGE_H_

#include <cstdint>
#include <optional>

#include "absl/time/time.h"

namespace iw::internal {

struct ProcessUsage {
  int64_t rss_bytes = 0;
  absl::Duration cpu_user;
  absl::Duration cpu_system;
};

// Resident set size of `pid` from /proc/<pid>/statm, or nullopt if the
// process is gone (or /proc is not mounted).
std::optional<int64_t> ResidentBytes(int pid);

// Resident memory and CPU time (utime and stime of /proc/<pid>/stat), or
// nullopt if the process is gone. Pitfall: /proc/<pid>/stat's second field
// is the command name in parentheses and may itself contain spaces and
// parentheses: the fields after it are found from the LAST ')'.
std::optional<ProcessUsage> ReadProcessUsage(int pid);

}  // namespace iw::internal

#endif  // IW_RUNTIME_PROCESS_PROCESS_USAGE_H_
