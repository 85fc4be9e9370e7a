// FOR INTERNAL USE. One unary gRPC call on the worker (a method called as
// /pkg.Service/Method, by a host without the call stream or by any gRPC
// client of a standalone worker), run through Dispatcher::Execute like a
// call of the call stream.
#ifndef IW_RUNTIME_WORKER_UNARY_CALL_H_
#define IW_RUNTIME_WORKER_UNARY_CALL_H_

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/support/byte_buffer.h>

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "runtime/call_context.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/worker/dispatcher.h"

namespace iw::internal {

// A reactor for one unary call; deletes itself.
grpc::ServerGenericBidiReactor* NewUnaryCall(Dispatcher* dispatcher,
                                             grpc::GenericCallbackServerContext* context);

// What the caller sent with a call (unary or streaming): its deadline
// (InfiniteFuture if none) and its DEADLINE_REPLACE_WORKER grace (if any).
absl::Time CallerDeadline(const grpc::GenericCallbackServerContext& context);
std::optional<absl::Duration> CallerReplaceAfter(const grpc::GenericCallbackServerContext& context);

// The status of a call (unary or streaming) that reached the .proto's bound
// (Dispatcher::BoundCallsByProto) before its handler answered.
absl::Status ProtoBoundExceeded(const codegen::ServiceInfo& service, int method_index);

// The unary path's codecs, also the dispatch fuzzer's: parses (and consumes)
// the request bytes; serializes a reply (INTERNAL naming the method and type
// if it cannot be).
bool ParseUnaryRequest(grpc::ByteBuffer* bytes, google::protobuf::MessageLite* request);
absl::Status SerializeUnaryReply(const CallContext& context,
                                 const google::protobuf::MessageLite& reply,
                                 grpc::ByteBuffer* bytes);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_UNARY_CALL_H_
