// FOR INTERNAL USE. Workarounds for bugs of the gRPC version we run on.
#ifndef IW_RUNTIME_WIRE_GRPC_WORKAROUNDS_H_
#define IW_RUNTIME_WIRE_GRPC_WORKAROUNDS_H_

namespace iw::internal {

// gRPC 1.51 (on pollers without background iomgr, as here) backs every
// channel's callback API with one process-wide "alternative" completion
// queue, refcounted by the channels that used it. When the last such channel
// is destroyed the queue is shut down, and a channel created right after
// builds a new one; with worker channels coming and going (respawns, pools)
// that window aborts the process in grpc_cq_internal_unref ("assertion
// failed: prior > 0"). We keep one reference for the life of the process.
// Idempotent and thread-safe; call before creating worker channels.
void PinGrpcCallbackQueue();

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_GRPC_WORKAROUNDS_H_
