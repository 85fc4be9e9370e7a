// FOR INTERNAL USE. The setrlimit() calls that start a child process under
// its `ResourceLimits`: computed before fork (nothing allocates in the child),
// applied in the child by a Subprocess or a fork server.
#ifndef IW_RUNTIME_PROCESS_CHILD_RLIMITS_H_
#define IW_RUNTIME_PROCESS_CHILD_RLIMITS_H_

#include <sys/resource.h>

#include "runtime/resource_limits.h"

namespace iw::internal {

// One setrlimit() to make in the child, computed before fork.
struct ChildRlimit {
  int resource;
  struct rlimit value;
};
inline constexpr int kMaxChildRlimits = 4;

struct ChildRlimits {
  ChildRlimit items[kMaxChildRlimits];
  int count = 0;
  // Highest descriptor number + 1 that can be open (for the close fallback).
  int max_fd = 1024;
};

// The setrlimit() calls `limits` asks for, clamped to our own hard limits (an
// unprivileged process cannot raise a hard limit). Core dumps are off unless
// allowed.
ChildRlimits ComputeRlimits(const ResourceLimits& limits);

// Applies them: async-signal-safe. On failure returns false with errno set.
bool ApplyRlimits(const ChildRlimits& rlimits);

}  // namespace iw::internal

#endif  // IW_RUNTIME_PROCESS_CHILD_RLIMITS_H_
