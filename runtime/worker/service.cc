#include "runtime/worker/service.h"

#include "runtime/wire/call_stream_protocol.h"
#include "runtime/worker/call_stream.h"
#include "runtime/worker/grpc_stream_call.h"
#include "runtime/worker/unary_call.h"

namespace iw::internal {

grpc::ServerGenericBidiReactor* WorkerService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  if (context->method() == kCallStreamMethod) return NewWorkerCallStream(dispatcher_, context);
  const int method_index = dispatcher_->FindMethod(context->method());
  if (method_index >= 0 &&
      codegen::IsStreaming(dispatcher_->binding().service->methods[method_index])) {
    return NewGrpcStreamCall(dispatcher_, context, method_index);
  }
  return NewUnaryCall(dispatcher_, context);
}

}  // namespace iw::internal
