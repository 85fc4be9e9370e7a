// FOR INTERNAL USE. The messages between a host and its fork server, on an
// AF_UNIX SOCK_SEQPACKET socketpair (one message per datagram, descriptors
// as SCM_RIGHTS). Host and server may be built from different versions of
// the runtime: the hello carries kForkServerVersion and a host uses only a
// server of its own version. All fields are fixed-width and native-endian
// (both ends run on the same machine).
#ifndef IW_RUNTIME_PROCESS_FORK_SERVER_PROTOCOL_H_
#define IW_RUNTIME_PROCESS_FORK_SERVER_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/process/unique_fd.h"

namespace iw::internal {

// Set in a fork server's environment: the number of its end of the
// socketpair. Its absence is what tells a worker to run normally.
inline constexpr char kForkServerFdEnv[] = "IW_FORK_SERVER_FD";

inline constexpr uint32_t kForkServerVersion = 1;
// A request carries at most this many descriptors (the child's targets plus
// its stdout/stderr).
inline constexpr int kForkMaxFds = 8;
// Bound on one message (a request is dominated by the child's environment).
inline constexpr size_t kForkMaxMessage = 192 * 1024;

enum ForkMessageTag : uint32_t {
  kForkHello = 0x49574601,      // server → host, once, first
  kForkRequest = 0x49574602,    // host → server
  kForkReply = 0x49574603,      // server → host, one per request (+ pidfd)
  kForkChildExit = 0x49574604,  // server → host, when a child is reaped
};

struct ForkHello {
  uint32_t tag = kForkHello;
  uint32_t version = kForkServerVersion;
  // 0: serving. Otherwise the server refuses (it exits right after) and
  // `reason` says why, NUL-terminated.
  int32_t refused = 0;
  char reason[244] = {};
};

// Followed by the child's environment: `env_count` NUL-terminated
// "KEY=VALUE" strings. The descriptors travel in order: `fd_count` of them,
// the i-th to become `targets[i]` in the child (-1: none, e.g. one that is
// only the child's stdout); stdout/stderr are given by index into them (-1:
// keep the server's).
struct ForkRequestHeader {
  uint32_t tag = kForkRequest;
  uint32_t sequence = 0;
  int32_t fd_count = 0;
  int32_t targets[kForkMaxFds] = {};
  int32_t stdout_index = -1;
  int32_t stderr_index = -1;
  int32_t new_process_group = 1;
  // ResourceLimits; -1 = unset.
  int64_t address_space_bytes = -1;
  int64_t cpu_time_ms = -1;
  int64_t open_files = -1;
  int32_t allow_core_dumps = 0;
  uint32_t env_count = 0;
};

// With the child's pidfd as SCM_RIGHTS when `error` is 0.
struct ForkReply {
  uint32_t tag = kForkReply;
  uint32_t sequence = 0;
  int32_t pid = 0;
  int32_t error = 0;  // errno of a failed fork(), pidfd_open(), ...
};

struct ForkChildExit {
  uint32_t tag = kForkChildExit;
  uint32_t sequence = 0;
  int32_t pid = 0;
  int32_t wait_status = 0;
};

// One received message and the descriptors that came with it.
struct ForkMessage {
  std::string bytes;  // empty: the peer closed its end
  std::vector<UniqueFd> fds;
};

// Sends one message with `fds` (may be empty). Blocking; EINTR retried.
absl::Status SendForkMessage(int socket, const void* data, size_t size,
                             const std::vector<int>& fds = {});
// Receives one message (blocking; EINTR retried). Received descriptors are
// O_CLOEXEC.
absl::StatusOr<ForkMessage> ReceiveForkMessage(int socket);

}  // namespace iw::internal

#endif  // IW_RUNTIME_PROCESS_FORK_SERVER_PROTOCOL_H_
