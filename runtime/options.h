// -----------------------------------------------------------------------------
// File: options.h
// -----------------------------------------------------------------------------
//
// Plain option structs for the host side: how to spawn a worker
// (`WorkerOptions`), how to make one call (`CallOptions`), per-method host
// overrides (`MethodOverrides`) and how to close (`CloseOptions`).
//
// Example:
//
//   iw::WorkerOptions options;
//   options.executable = "bazel-bin/examples/ping/ping_worker";
//   options.startup_timeout = absl::Seconds(2);
//   auto host = demo::PingHost::Spawn(options);
//
//   iw::CallOptions call;
//   call.timeout = absl::Milliseconds(50);
//   auto reply = (*host)->Ping(request, call);

#ifndef IW_RUNTIME_OPTIONS_H_
#define IW_RUNTIME_OPTIONS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace iw {

// Library defaults, used when neither the host nor the .proto sets a value.
inline constexpr absl::Duration kDefaultCallTimeout = absl::Seconds(300);
inline constexpr absl::Duration kDefaultStartupTimeout = absl::Seconds(10);

// What the worker's standard output and standard error are connected to.
enum class OutputMode {
  kInherit,  // the host's own stdout/stderr (default)
  kDiscard,  // /dev/null
};

// How to start a worker process. Thread-compatible.
struct WorkerOptions {
  // Path of the worker executable. Required. Not searched in $PATH: give a
  // path with a '/' (relative paths are relative to the host's working dir).
  std::string executable;
  // Arguments after argv[0] (argv[0] is `executable`).
  std::vector<std::string> args;
  // Environment of the worker: the host's environment, then `env` on top
  // (a value replaces an inherited one).
  std::map<std::string, std::string> env;
  // Working directory of the worker; empty = the host's.
  std::string working_directory;
  // Bound on spawn → ready. Unset: (iw.service).startup_timeout_ms, then
  // kDefaultStartupTimeout.
  std::optional<absl::Duration> startup_timeout;
  // Timeout of every method of this host (the "numeric shorthand"). Loses to
  // a per-call timeout and to a per-method `MethodOverrides::timeout`, wins
  // over the .proto.
  std::optional<absl::Duration> call_timeout;
  OutputMode stdout_mode = OutputMode::kInherit;
  OutputMode stderr_mode = OutputMode::kInherit;
};

// Host-side overrides for one method. The generated `<Service>MethodConfig`
// holds one of these per RPC, so a misspelt method name does not compile.
struct MethodOverrides {
  // Wins over WorkerOptions::call_timeout and over the .proto.
  std::optional<absl::Duration> timeout;
};

// Options of one call. Thread-compatible.
struct CallOptions {
  // Timeout of this call (relative to the moment the call is made). Wins over
  // every other source. Must be positive.
  std::optional<absl::Duration> timeout;
};

// How `Close()` stops a worker: ask it to drain, then SIGTERM, then SIGKILL.
struct CloseOptions {
  // How long in-flight calls may take to finish after close begins.
  absl::Duration grace = absl::Seconds(5);
  // How long to wait after SIGTERM before SIGKILL.
  absl::Duration term_timeout = absl::Seconds(2);
};

}  // namespace iw

#endif  // IW_RUNTIME_OPTIONS_H_
