// FOR INTERNAL USE. The control channel between a host and the worker it
// spawned: a second socketpair, separate from gRPC.
//
//   worker → host: one byte kReady once the gRPC server serves.
//   host → worker: a ShutdownRequest: drain in-flight calls within
//                  `grace_ms`, then exit 0.
//   host gone:     the worker reads EOF (the kernel closes the host's end
//                  however the host dies, SIGKILL included) and exits at once.
//                  This is the orphan lifeline.
//
// The worker finds its descriptors through environment variables.
#ifndef IW_RUNTIME_INTERNAL_CONTROL_PROTOCOL_H_
#define IW_RUNTIME_INTERNAL_CONTROL_PROTOCOL_H_

#include <cstdint>

namespace iw::internal {

inline constexpr char kGrpcFdEnv[] = "IW_GRPC_FD";
inline constexpr char kControlFdEnv[] = "IW_CONTROL_FD";
inline constexpr char kWorkerIdEnv[] = "IW_WORKER_ID";
// Descriptor numbers the spawner gives the worker.
inline constexpr int kWorkerGrpcFd = 3;
inline constexpr int kWorkerControlFd = 4;

// The status message of a call whose handler returned after the call's
// deadline: the worker sends DEADLINE_EXCEEDED with it instead of the reply,
// so a late reply never looks like a success, and the host reports it like
// its own deadline.
inline constexpr char kDeadlinePassedInWorker[] =
    "the call's deadline passed before its handler returned";

// Trailing metadata a worker adds when the call's own handler (or
// middleware) answered UNAVAILABLE: the host then knows the worker is alive
// and the call was not lost with its connection, so it passes the status on
// unchanged and does not apply the crash policy. An UNAVAILABLE without it
// comes from the transport (a dead, draining or unreachable worker).
inline constexpr char kAnsweredUnavailableKey[] = "iw-answered";

inline constexpr uint8_t kReady = 'R';
// worker → host, right before it exits on purpose: kReplaced, a uint16_t
// length, then that many bytes of explanation.
inline constexpr uint8_t kReplaced = 'K';
// The exit code of a worker that replaced itself (EX_SOFTWARE).
inline constexpr int kReplacedExitCode = 70;
inline constexpr uint8_t kShutdown = 'S';

#pragma pack(push, 1)
struct ShutdownRequest {
  uint8_t tag = kShutdown;
  uint32_t grace_ms = 0;
};
#pragma pack(pop)

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_CONTROL_PROTOCOL_H_
