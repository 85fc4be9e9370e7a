// FOR INTERNAL USE. Names and limits shared by both ends of the multiplexed
// call stream (proto/isolated_workers/internal/call_stream.proto).
#ifndef IW_RUNTIME_WIRE_CALL_STREAM_PROTOCOL_H_
#define IW_RUNTIME_WIRE_CALL_STREAM_PROTOCOL_H_

#include <cstddef>

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

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_CALL_STREAM_PROTOCOL_H_
