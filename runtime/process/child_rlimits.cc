#include "runtime/process/child_rlimits.h"

#include <algorithm>
#include <cstdint>

#include "absl/time/time.h"

namespace iw::internal {
namespace {

rlim_t Clamp(rlim_t wanted, rlim_t hard) {
  return hard == RLIM_INFINITY ? wanted : std::min(wanted, hard);
}

}  // namespace

ChildRlimits ComputeRlimits(const ResourceLimits& limits) {
  ChildRlimits out;
  auto add = [&out](int resource, rlim_t soft, rlim_t hard) {
    struct rlimit current;
    if (::getrlimit(resource, &current) != 0) return;
    ChildRlimit& item = out.items[out.count++];
    item.resource = resource;
    item.value.rlim_max = Clamp(hard, current.rlim_max);
    item.value.rlim_cur = std::min(Clamp(soft, current.rlim_max), item.value.rlim_max);
  };
  if (limits.address_space_bytes) {
    add(RLIMIT_AS, *limits.address_space_bytes, *limits.address_space_bytes);
  }
  if (limits.cpu_time) {
    // SIGXCPU at the soft limit; SIGKILL one second later (at the hard
    // limit). Equal limits would make the kernel send SIGKILL first.
    rlim_t seconds = static_cast<rlim_t>(
        std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(*limits.cpu_time, absl::Seconds(1)))));
    add(RLIMIT_CPU, seconds, seconds + 1);
  }
  if (limits.open_files) add(RLIMIT_NOFILE, *limits.open_files, *limits.open_files);
  if (!limits.allow_core_dumps) add(RLIMIT_CORE, 0, 0);
  struct rlimit nofile;
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    out.max_fd = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20));
  }
  return out;
}

bool ApplyRlimits(const ChildRlimits& rlimits) {
  for (int i = 0; i < rlimits.count; ++i) {
    if (::setrlimit(rlimits.items[i].resource, &rlimits.items[i].value) != 0) return false;
  }
  return true;
}

}  // namespace iw::internal
