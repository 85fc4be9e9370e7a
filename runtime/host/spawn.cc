// The factories behind the generated Spawn()/SpawnPool(): a WorkerPool of
// WorkerProcess endpoints.
#include <sys/stat.h>

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "runtime/codegen_support/host_support.h"
#include "runtime/host/worker_pool.h"
#include "runtime/host/worker_process.h"

namespace iw::internal {
namespace {

// Bad options fail Spawn() with a status naming the option, instead of
// passing and failing later (every call, or every respawn) or being silently
// altered by the kernel (a NUL byte ends a C string: execve() would see a
// shorter argument or variable).
absl::Status ValidateSpawnOptions(const WorkerOptions& options, const std::string& what) {
  if (options.executable.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": WorkerOptions::executable is empty"));
  }
  if (options.executable.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": WorkerOptions::executable contains a NUL byte"));
  }
  // exec() of a directory fails with EACCES ("Permission denied"), which
  // sends users looking at file modes.
  struct stat st;
  if (::stat(options.executable.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": WorkerOptions::executable ",
                                                      options.executable,
                                                      " is a directory, not an executable file"));
  }
  for (size_t i = 0; i < options.args.size(); ++i) {
    if (options.args[i].find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": WorkerOptions::args[", i,
                                                     "] contains a NUL byte (at offset ",
                                                     options.args[i].find('\0'), ")"));
    }
  }
  for (const auto& [name, value] : options.env) {
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": WorkerOptions::env has a variable with an empty name"));
    }
    if (name.find_first_of(std::string("=\0", 2)) != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": WorkerOptions::env variable name \"", absl::CEscape(name),
                       "\" contains '", name.find('=') != std::string::npos ? "=" : "\\0",
                       "' (not allowed in an environment variable name)"));
    }
    if (value.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": WorkerOptions::env value of ", name,
                                                     " contains a NUL byte (at offset ",
                                                     value.find('\0'), ")"));
    }
  }
  if (options.call_timeout && *options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": WorkerOptions::call_timeout must be positive, got ",
                     absl::FormatDuration(*options.call_timeout)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WorkerPool>> StartSpawnedPool(
    const codegen::ServiceInfo& service, WorkerOptions options, PoolOptions pool,
    std::vector<MethodOverrides> method_overrides) {
  const std::string what = absl::StrCat("spawn worker for ", service.full_name);
  if (absl::Status valid = ValidateSpawnOptions(options, what); !valid.ok()) return valid;
  absl::StatusOr<ResolvedTimeout> startup = ResolveStartupTimeout(service, options);
  if (!startup.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", startup.status().message()));
  }
  WorkerPool::Factory factory =
      [&service, options, startup = *startup]() -> absl::StatusOr<std::unique_ptr<WorkerEndpoint>> {
    absl::StatusOr<std::unique_ptr<WorkerProcess>> worker =
        WorkerProcess::Spawn(service, options, startup);
    if (!worker.ok()) return worker.status();
    return std::unique_ptr<WorkerEndpoint>(std::move(*worker));
  };
  absl::StatusOr<std::unique_ptr<WorkerPool>> started = WorkerPool::Start(
      service, std::move(options), std::move(method_overrides), pool, std::move(factory));
  return started;
}

}  // namespace

}  // namespace iw::internal

namespace iw::codegen {

StartedWorkers::StartedWorkers(std::unique_ptr<internal::WorkerPool> pool)
    : pool_(std::move(pool)) {}
StartedWorkers::StartedWorkers(StartedWorkers&&) noexcept = default;
StartedWorkers& StartedWorkers::operator=(StartedWorkers&&) noexcept = default;
StartedWorkers::~StartedWorkers() = default;

std::unique_ptr<internal::WorkerPool> StartedWorkers::Release() && { return std::move(pool_); }

absl::StatusOr<StartedWorkers> StartedWorkers::Of(
    absl::StatusOr<std::unique_ptr<internal::WorkerPool>> pool) {
  if (!pool.ok()) return pool.status();
  return StartedWorkers(std::move(*pool));
}

absl::StatusOr<StartedWorkers> SpawnWorker(const ServiceInfo& service, WorkerOptions options,
                                           std::vector<MethodOverrides> method_overrides) {
  return SpawnWorkerPool(service, std::move(options), PoolOptions(), std::move(method_overrides));
}

absl::StatusOr<StartedWorkers> SpawnWorkerPool(const ServiceInfo& service, WorkerOptions options,
                                               PoolOptions pool,
                                               std::vector<MethodOverrides> method_overrides) {
  return StartedWorkers::Of(
      internal::StartSpawnedPool(service, std::move(options), pool, std::move(method_overrides)));
}

}  // namespace iw::codegen
