// FOR INTERNAL USE. The gRPC face of a worker: one generic callback service
// that routes each incoming call to its carrier: the call stream
// (/iw.internal.CallStream/Calls), a unary call or a streaming call
// (/pkg.Service/Method of a streaming method). Every carrier runs calls
// through the same Dispatcher.
#ifndef IW_RUNTIME_WORKER_SERVICE_H_
#define IW_RUNTIME_WORKER_SERVICE_H_

#include <grpcpp/generic/async_generic_service.h>

#include "runtime/worker/dispatcher.h"

namespace iw::internal {

class WorkerService final : public grpc::CallbackGenericService {
 public:
  // `dispatcher` must outlive the service.
  explicit WorkerService(Dispatcher* dispatcher) : dispatcher_(dispatcher) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

 private:
  Dispatcher* const dispatcher_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_SERVICE_H_
