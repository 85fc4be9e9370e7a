// FOR INTERNAL USE. The control channel between a host and the worker it
// spawned: a second socketpair, separate from gRPC.
//
//   worker → host: kReadyWithSchema (kReadyNative) and the worker's service
//                  schema once it serves gRPC (the native carrier) (a bare kReady byte from workers
//                  that do not tell their schema).
//   host → worker: a ShutdownRequest: drain in-flight calls within
//                  `grace_ms`, then exit 0.
//   worker → host: one byte kRecycle: please replace me gracefully.
//   host gone:     the worker reads EOF (the kernel closes the host's end
//                  however the host dies, SIGKILL included) and exits at once.
//                  This is the orphan lifeline.
//
// The worker finds its descriptors through environment variables.
#ifndef IW_RUNTIME_WIRE_CONTROL_PROTOCOL_H_
#define IW_RUNTIME_WIRE_CONTROL_PROTOCOL_H_

#include <cstdint>

namespace iw::internal {

inline constexpr char kGrpcFdEnv[] = "IW_GRPC_FD";
inline constexpr char kControlFdEnv[] = "IW_CONTROL_FD";
inline constexpr char kWorkerIdEnv[] = "IW_WORKER_ID";
// Which carrier the host wants on the call socket (IW_GRPC_FD): "native"
// (see kReadyNative) or unset (gRPC).
inline constexpr char kCarrierEnv[] = "IW_CARRIER";
inline constexpr char kCarrierNative[] = "native";
// Descriptor numbers the spawner gives the worker.
inline constexpr int kWorkerGrpcFd = 3;
inline constexpr int kWorkerControlFd = 4;

// The status message of a call whose handler returned after the call's
// deadline: the worker sends DEADLINE_EXCEEDED with it instead of the reply,
// so a late reply never looks like a success. The host knows it by its
// cause (kCallDeadline, call_failure.h), not by this text, and reports it
// like its own deadline.
inline constexpr char kDeadlinePassedInWorker[] =
    "the call's deadline passed before its handler returned";

// Trailing metadata of a unary call that failed with a status the worker
// itself produced (its handler's, or its framework's): the host then never
// mistakes a handler's UNAVAILABLE for a broken connection. (Replies on the
// call stream always come from the worker.)
inline constexpr char kWorkerStatusMetadata[] = "iw-worker-status";

inline constexpr uint8_t kReady = 'R';
// The ready message of a worker that tells its schema (every worker of this
// runtime): kReadyWithSchema, a uint16_t length, then that many bytes of
// EncodeSchema() (schema.h). The host checks it before accepting the worker.
inline constexpr uint8_t kReadyWithSchema = 'V';
// The same from a worker that serves the native carrier (native_frames.h)
// on its call socket, as the host asked with kCarrierEnv=kCarrierNative. A
// worker that does not know the variable serves gRPC and says
// kReadyWithSchema: the host then uses the gRPC carrier.
inline constexpr uint8_t kReadyNative = 'N';
// worker → host, right before it exits on purpose: kReplaced, a uint16_t
// length, then that many bytes of explanation.
inline constexpr uint8_t kReplaced = 'K';
// The exit code of a worker that replaced itself (EX_SOFTWARE).
inline constexpr int kReplacedExitCode = 70;
inline constexpr uint8_t kShutdown = 'S';
// worker → host, one byte: a handler called CallContext::RequestRecycle();
// the host replaces the worker gracefully (sent at most once).
inline constexpr uint8_t kRecycle = 'C';

#pragma pack(push, 1)
struct ShutdownRequest {
  uint8_t tag = kShutdown;
  uint32_t grace_ms = 0;
};
#pragma pack(pop)

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_CONTROL_PROTOCOL_H_
