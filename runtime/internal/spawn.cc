// The factories behind the generated Spawn()/SpawnPool(): a WorkerPool of
// WorkerProcess endpoints.
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/codegen_support/host_stub_base.h"
#include "runtime/internal/worker_pool.h"
#include "runtime/internal/worker_process.h"

namespace iw::internal {

absl::StatusOr<std::unique_ptr<Connection>> SpawnWorkerPool(
    const ServiceInfo& service, WorkerOptions options, PoolOptions pool,
    std::vector<MethodOverrides> method_overrides) {
  const std::string what = absl::StrCat("spawn worker for ", service.full_name);
  if (options.executable.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": WorkerOptions::executable is empty"));
  }
  absl::StatusOr<ResolvedTimeout> startup = ResolveStartupTimeout(service, options);
  if (!startup.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", startup.status().message()));
  }
  WorkerPool::Factory factory =
      [&service, options, startup = *startup]()
      -> absl::StatusOr<std::unique_ptr<WorkerEndpoint>> {
    absl::StatusOr<std::unique_ptr<WorkerProcess>> worker =
        WorkerProcess::Spawn(service, options, startup);
    if (!worker.ok()) return worker.status();
    return std::unique_ptr<WorkerEndpoint>(std::move(*worker));
  };
  absl::StatusOr<std::unique_ptr<WorkerPool>> started =
      WorkerPool::Start(service, std::move(options), std::move(method_overrides), pool,
                        std::move(factory));
  if (!started.ok()) return started.status();
  return std::unique_ptr<Connection>(std::move(*started));
}

absl::StatusOr<std::unique_ptr<Connection>> SpawnWorker(
    const ServiceInfo& service, WorkerOptions options,
    std::vector<MethodOverrides> method_overrides) {
  return SpawnWorkerPool(service, std::move(options), PoolOptions(),
                         std::move(method_overrides));
}

}  // namespace iw::internal
