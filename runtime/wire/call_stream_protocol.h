// FOR INTERNAL USE. Names and limits shared by both ends of the multiplexed
// call stream (proto/isolated_workers/internal/call_stream.proto).
#ifndef IW_RUNTIME_WIRE_CALL_STREAM_PROTOCOL_H_
#define IW_RUNTIME_WIRE_CALL_STREAM_PROTOCOL_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/clock.h"

namespace iw::internal {

inline constexpr char kCallStreamMethod[] = "/iw.internal.CallStream/Calls";
// Request metadata opening the stream (the protocol version), echoed by the
// worker as initial metadata when it accepts the stream.
inline constexpr char kCallStreamVersionKey[] = "iw-call-stream";
inline constexpr char kCallStreamVersion[] = "1";
// Request metadata opening the stream: the largest reply (serialized
// response message) the host accepts, in bytes. Larger ones are answered
// with RESOURCE_EXHAUSTED instead.
inline constexpr char kCallStreamMaxReplyKey[] = "iw-max-reply-bytes";

// Requests up to this size go through the stream; larger ones are sent as
// ordinary unary calls (no copy into a batch, no head-of-line blocking).
inline constexpr size_t kStreamMaxRequestBytes = 32 << 10;
// A batch (either way) is closed once it holds this much; one larger reply
// travels alone.
inline constexpr size_t kStreamMaxBatchBytes = 1 << 20;
// Room for a batch's framing around one message of the maximum size: the
// channel and server limits are raised by this much, and the exact limits
// are checked by the runtime itself.
inline constexpr int kStreamFramingSlack = 64 << 10;

// The worker's own time for a call (MethodMetrics::handler_time): from the
// call's start in the worker (before the request is parsed) to the
// handler's result (before the reply is serialized), in microseconds. The
// native carrier and the call stream carry it in their replies; a unary
// gRPC reply as this trailing metadata entry (decimal).
inline constexpr char kWorkerTimeMetadataKey[] = "iw-worker-us";

// Microseconds since `start_ns` (absl::GetCurrentTimeNanos()), at least 0.
inline uint64_t MicrosSince(int64_t start_ns) {
  const int64_t elapsed = absl::GetCurrentTimeNanos() - start_ns;
  return elapsed > 0 ? static_cast<uint64_t>(elapsed / 1000) : 0;
}

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_CALL_STREAM_PROTOCOL_H_
