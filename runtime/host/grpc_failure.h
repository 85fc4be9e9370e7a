// FOR INTERNAL USE. The gRPC boundary of a host's call (unary or streaming):
// what every call sends along (PrepareGrpcCall), and where the status gRPC
// reported becomes an absl::Status with its cause (call_failure.h). Used by
// GrpcEndpoint and the gRPC carrier of streams (grpc_stream.h).
#ifndef IW_RUNTIME_HOST_GRPC_FAILURE_H_
#define IW_RUNTIME_HOST_GRPC_FAILURE_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/host/endpoint.h"

namespace iw::internal {

// Sets the deadline, per-call policy (replace-after), request id and
// request metadata of `timing` on a call's `context`.
void PrepareGrpcCall(const CallTiming& timing, grpc::ClientContext* context);

// Whether the worker itself produced the call's status (its trailing
// metadata says so). Once the call is done.
bool StatusFromWorker(const grpc::ClientContext& context);

// `status`, failed, as the host's call of `method` (display name) got it.
// `from_worker`: the worker produced it (its trailing metadata says so);
// then only the causes a worker can know are kept (TrustedFromWorker()).
// Otherwise gRPC produced it, at either end, and its code tells the cause:
// - DEADLINE_EXCEEDED: kCallDeadline (gRPC's deadline is the call's);
// - UNAVAILABLE: kTransportFailed (the endpoint says what happened);
// - RESOURCE_EXHAUSTED: a message over a size limit, rewritten by
//   MessageTooLarge(): the request if `request_size` is over `max_request`
//   (the limit the channel was given; gRPC checks what it sends first),
//   else the reply gRPC refused to receive;
// - anything else: no cause.
absl::Status FromGrpcCall(const grpc::Status& status, bool from_worker, absl::string_view method,
                          size_t request_size, int max_request);

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_GRPC_FAILURE_H_
