// -----------------------------------------------------------------------------
// File: codegen_support/host_support.h
// -----------------------------------------------------------------------------
//
// FOR GENERATED CODE ONLY. Not a stable API; include the generated
// `<file>.iw.h` instead.
//
// The host side of generated code: the factories a generated
// `<Service>Host::Spawn()` (and SpawnPool, InProcess, Connect) calls. Each
// returns the started workers, which the generated factory hands to the
// host's constructor (iw::HostBase).

#ifndef IW_RUNTIME_CODEGEN_SUPPORT_HOST_SUPPORT_H_
#define IW_RUNTIME_CODEGEN_SUPPORT_HOST_SUPPORT_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/codegen_support/handler_adapter.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/in_process.h"
#include "runtime/options.h"

namespace iw::internal {
class WorkerPool;
}  // namespace iw::internal

namespace iw::codegen {

// The workers behind one host, started and ready (or starting, for a lazy
// pool). Move-only; owned by the host once handed to HostBase.
class StartedWorkers {
 public:
  explicit StartedWorkers(std::unique_ptr<internal::WorkerPool> pool);
  StartedWorkers(StartedWorkers&&) noexcept;
  StartedWorkers& operator=(StartedWorkers&&) noexcept;
  ~StartedWorkers();  // closes workers never handed to a host

  std::unique_ptr<internal::WorkerPool> Release() &&;

  // The runtime's factories end with this: the pool they started, or why not.
  static absl::StatusOr<StartedWorkers> Of(
      absl::StatusOr<std::unique_ptr<internal::WorkerPool>> pool);

 private:
  std::unique_ptr<internal::WorkerPool> pool_;
};

// Spawns a worker for `service` and waits until it is ready (bounded by the
// startup timeout). `method_overrides` has one entry per method, in
// declaration order (or is empty).
absl::StatusOr<StartedWorkers> SpawnWorker(const ServiceInfo& service, WorkerOptions options,
                                           std::vector<MethodOverrides> method_overrides);

// The same for a pool of workers.
absl::StatusOr<StartedWorkers> SpawnWorkerPool(const ServiceInfo& service, WorkerOptions options,
                                               PoolOptions pool,
                                               std::vector<MethodOverrides> method_overrides);

// Connects to workers that run elsewhere (one per address).
absl::StatusOr<StartedWorkers> ConnectWorkers(const ServiceInfo& service,
                                              const std::vector<std::string>& addresses,
                                              const RemoteOptions& remote,
                                              std::vector<MethodOverrides> method_overrides);

// Serves `binding` in this process behind the same supervisor as a spawned
// worker (a pool of exactly one worker). Of `options`, only call_timeout,
// on_state_change, respawn and max_request_bytes / max_response_bytes
// apply. `hooks` (may be null) must outlive the host.
absl::StatusOr<StartedWorkers> StartInProcess(const ServiceBinding& binding, WorkerOptions options,
                                              std::vector<MethodOverrides> method_overrides,
                                              InProcessHooks* hooks = nullptr);

}  // namespace iw::codegen

#endif  // IW_RUNTIME_CODEGEN_SUPPORT_HOST_SUPPORT_H_
