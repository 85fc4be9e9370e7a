#include "runtime/worker/service.h"

#include "runtime/wire/call_stream_protocol.h"
#include "runtime/worker/call_stream.h"
#include "runtime/worker/unary_call.h"

namespace iw::internal {

grpc::ServerGenericBidiReactor* WorkerService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  if (context->method() == kCallStreamMethod) return NewWorkerCallStream(dispatcher_, context);
  return NewUnaryCall(dispatcher_, context);
}

}  // namespace iw::internal
