// -----------------------------------------------------------------------------
// File: codegen_support/host_stub_base.h
// -----------------------------------------------------------------------------
//
// FOR GENERATED CODE ONLY. Not a stable API; include the generated
// `<file>.iw.h` instead.
//
// Typed helpers the generated `<Service>Host` methods are written with, and
// the factory they use to spawn a worker.

#ifndef IW_RUNTIME_CODEGEN_SUPPORT_HOST_STUB_BASE_H_
#define IW_RUNTIME_CODEGEN_SUPPORT_HOST_STUB_BASE_H_

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/internal/connection.h"
#include "runtime/host.h"
#include "runtime/options.h"

namespace iw::internal {

// Spawns a worker for `service` and waits until it is ready (bounded by the
// startup timeout). `method_overrides` has one entry per method, in
// declaration order (or is empty).
absl::StatusOr<std::unique_ptr<Connection>> SpawnWorker(
    const ServiceInfo& service, WorkerOptions options,
    std::vector<MethodOverrides> method_overrides);

// The same for a pool of workers.
absl::StatusOr<std::unique_ptr<Connection>> SpawnWorkerPool(
    const ServiceInfo& service, WorkerOptions options, PoolOptions pool,
    std::vector<MethodOverrides> method_overrides);

// Base of generated hosts: HostBase plus typed call templates.
class HostStub : public HostBase {
 protected:
  using HostBase::HostBase;

  // The generated factories' common tail: a host around `connection`.
  template <typename Host>
  static absl::StatusOr<std::unique_ptr<Host>> Wrap(
      absl::StatusOr<std::unique_ptr<Connection>> connection) {
    if (!connection.ok()) return connection.status();
    return std::unique_ptr<Host>(new Host(std::move(*connection)));
  }

  template <typename Response>
  absl::StatusOr<Response> Call(int method_index,
                                const google::protobuf::MessageLite& request,
                                const CallOptions& options) {
    Response response;
    absl::Status status = CallErased(method_index, request, &response, options);
    if (!status.ok()) return status;
    return response;
  }

  template <typename Response>
  CallHandle CallAsync(int method_index,
                       const google::protobuf::MessageLite& request,
                       std::function<void(absl::StatusOr<Response>)> done,
                       const CallOptions& options) {
    auto response = std::make_shared<Response>();
    Response* raw = response.get();
    return CallAsyncErased(
        method_index, request, raw, options,
        [response = std::move(response),
         done = std::move(done)](absl::Status status) mutable {
          if (status.ok()) {
            done(std::move(*response));
          } else {
            done(std::move(status));
          }
        });
  }
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_CODEGEN_SUPPORT_HOST_STUB_BASE_H_
