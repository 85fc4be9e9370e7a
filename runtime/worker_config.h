// -----------------------------------------------------------------------------
// File: worker_config.h
// -----------------------------------------------------------------------------
//
// Worker-side settings (`WorkerConfig`), given to the generated
// `Run<Service>Worker(argc, argv, handler, config)`.

#ifndef IW_RUNTIME_WORKER_CONFIG_H_
#define IW_RUNTIME_WORKER_CONFIG_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "runtime/logging.h"
#include "runtime/middleware.h"
#include "runtime/trace_context.h"

namespace iw {

// Worker-side settings, given to the generated
// `Run<Service>Worker(argc, argv, handler, config)`.
struct WorkerConfig {
  // Runs around every handler, in order (see the top of this file).
  std::vector<std::shared_ptr<WorkerMiddleware>> middleware;
  // Runs once in each worker process, before it serves or tells its host it
  // is ready. With StartMode::kForkServer, main() up to RunWorker() runs
  // once, in the fork server, and every worker is a fork of that state:
  // per-process setup (threads, seeding a random generator, files or
  // connections of its own) belongs here. A non-OK status ends the worker
  // with exit code 3 and the status on stderr (its host reports a spawn
  // failure with that stderr line).
  std::function<absl::Status()> on_start;
  // Opens a span (or anything else) around every handler, outside worker
  // middleware; e.g. an OpenTelemetry bridge (see trace_context.h,
  // docs/tracing.md). Null: none.
  std::shared_ptr<WorkerTracer> tracer;
  // Where this worker's log records go: about its calls, those logged
  // through the framework on a handler's thread (iw::LogMessage), its stop
  // and drain (records before it serves go to the process-wide sink). Null:
  // the process-wide sink (SetLogSink). Must be thread-safe.
  LogSink log_sink;
  // Unset: kWarning with a `log_sink`, the process-wide level without.
  std::optional<LogLevel> log_level;
};

}  // namespace iw

#endif  // IW_RUNTIME_WORKER_CONFIG_H_
