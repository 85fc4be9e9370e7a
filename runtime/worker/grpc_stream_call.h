// -----------------------------------------------------------------------------
// File: worker/grpc_stream_call.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. One streaming call (stream.h) carried as an ordinary gRPC
// streaming call (/pkg.Service/Method): the worker end for a host over gRPC
// (WorkerTransport::kGrpc, in-process and remote workers) and for any gRPC
// client of a standalone worker. Runs the handler through
// Dispatcher::ExecuteStream like the native carrier does.
//
// Flow control: requests are read one at a time and only while the handler
// holds fewer than kStreamWindow unread ones, so a host that writes faster
// than the handler reads is held back by gRPC's own flow control; responses
// are written one at a time, each Write() returning once gRPC took it.

#ifndef IW_RUNTIME_WORKER_GRPC_STREAM_CALL_H_
#define IW_RUNTIME_WORKER_GRPC_STREAM_CALL_H_

#include <grpcpp/generic/async_generic_service.h>

#include "runtime/worker/dispatcher.h"

namespace iw::internal {

// A reactor for one call of the streaming method `method_index`; deletes
// itself.
grpc::ServerGenericBidiReactor* NewGrpcStreamCall(Dispatcher* dispatcher,
                                                  grpc::GenericCallbackServerContext* context,
                                                  int method_index);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_GRPC_STREAM_CALL_H_
