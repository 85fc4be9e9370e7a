// FOR INTERNAL USE. The worker end of the multiplexed call stream
// (proto/isolated_workers/internal/call_stream.proto): reads batches of calls,
// runs each on the dispatcher's executor exactly like a unary call
// (Dispatcher::Execute), and writes the replies back in batches, each as soon
// as the write before it is done.
#ifndef IW_RUNTIME_WORKER_CALL_STREAM_H_
#define IW_RUNTIME_WORKER_CALL_STREAM_H_

#include <grpcpp/generic/async_generic_service.h>

namespace iw::internal {

class Dispatcher;

// A reactor for one /iw.internal.CallStream/Calls stream; deletes itself.
grpc::ServerGenericBidiReactor* NewWorkerCallStream(Dispatcher* dispatcher,
                                                    grpc::GenericCallbackServerContext* context);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_CALL_STREAM_H_
