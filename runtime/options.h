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

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "runtime/logging.h"
#include "runtime/resource_limits.h"
#include "runtime/trace_context.h"
#include "runtime/worker_state.h"

namespace iw {

class HostMiddleware;    // middleware.h
class WorkerMiddleware;  // middleware.h

// Library defaults, used when neither the host nor the .proto sets a value.
inline constexpr absl::Duration kDefaultCallTimeout = absl::Seconds(300);
inline constexpr absl::Duration kDefaultStartupTimeout = absl::Seconds(10);
// DeadlinePolicy::kReplaceWorker: how long a handler may overrun its
// deadline before its worker is replaced.
inline constexpr absl::Duration kDefaultDeadlineGrace = absl::Seconds(1);

// What the worker's standard output and standard error are connected to.
// Whatever the mode, the last lines of stderr are kept for crash reports.
enum class OutputMode {
  kInherit,  // copied to the host's own stdout/stderr (default)
  kDiscard,  // dropped
  kCapture,  // each line goes to the host's log sink (level info), tagged
             // with the worker's id
};

// What happens to a worker whose handler still runs when a call's deadline
// passes (see (iw.method).on_deadline).
enum class DeadlinePolicy {
  kLeaveRunning,   // the handler sees IsCancelled(); nothing else happens
  kReplaceWorker,  // after a grace period, kill the worker and start another
};

// What happens to a call in flight when its worker dies (see
// (iw.method).on_crash).
enum class CrashPolicy {
  kReject,  // fail with UNAVAILABLE
  kRetry,   // run again on a fresh worker, within the original deadline
};

// Whether a worker that died is replaced.
enum class RespawnPolicy {
  kAlways,  // start a fresh worker (with backoff if workers keep dying)
  kNever,   // the host stays crashed; every call fails with UNAVAILABLE
};

// How closely a worker's service must match the host's, checked when it
// becomes ready (Spawn(), respawns) or at Connect(). A mismatch fails with
// FAILED_PRECONDITION naming both services and their schema fingerprints.
// See docs/lifecycle.md, "Schema check".
enum class SchemaCheck {
  // The same service (full name) and the same wire schema: methods, streaming
  // flags, and every field's number, type and cardinality, transitively.
  // Renamed fields or messages and edited comments still match. (Default.)
  kExact,
  // The same service name only: for a rolling upgrade between versions you
  // know to be wire-compatible (e.g. one added a field), where protobuf's
  // own compatibility rules apply.
  kServiceName,
};

// How calls travel on the private socketpair between a host and a worker it
// spawned (see `WorkerOptions::transport`, docs/design.md "The native carrier").
// Workers reached any other way (--iw_listen, Connect()) always speak gRPC.
enum class WorkerTransport {
  // Our own length-prefixed frames carrying the call-stream protocol (ids,
  // deadlines, cancellation, metadata, status) directly on the socket: no
  // HTTP/2, no gRPC threads; a blocking caller writes its own request and is
  // woken once, by its reply. Every request size travels this way. A worker
  // built without it is detected at spawn and gets kGrpc. (Default.)
  kNative,
  // gRPC over the socketpair: the multiplexed call stream for small
  // requests (if `call_stream`), unary RPCs otherwise, exactly as on a
  // listening worker.
  kGrpc,
};

// How a spawned worker process is started (see `WorkerOptions::start_mode`,
// docs/startup.md).
enum class StartMode {
  // fork + exec of the worker executable for every worker: each one loads
  // and initialises its libraries itself (~20 ms with Debian's shared gRPC
  // libraries, see docs/benchmarks.md), and shares nothing with any other.
  kExec,
  // A fork server: the executable is exec'd once per host process and
  // exec-time configuration (executable file, args, environment, working
  // directory), stops single-threaded at the top of RunWorker(), and forks
  // each worker from there (~1-2 ms). Each worker still has its own pid,
  // process group, descriptors, environment, resource limits and lifeline.
  // Trade-offs: workers share the server's address-space layout (ASLR),
  // stack-protector canary and whatever its main() did before RunWorker()
  // (objects built, files opened, random seeds drawn: done once, inherited by
  // every worker). An executable that has started a thread by then, or was
  // built without fork-server support, is detected and started with exec.
  // The server is closed 30 s after its last worker ends, and never outlives
  // its host.
  kForkServer,
};

// Which of the host's environment variables a worker inherits (see
// `WorkerOptions::environment_mode`).
enum class EnvironmentMode {
  // Every variable of the host (default). Convenient, but a worker then sees
  // whatever the host holds: tokens, proxy settings, LD_PRELOAD, ...
  kInherit,
  // None: the worker sees only `WorkerOptions::env` and the framework's own
  // IW_* variables. PATH, HOME, LANG and TZ are then unset too.
  kClean,
  // Only the host variables matching `WorkerOptions::env_allow_list`.
  kAllowList,
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
  // Replace a worker that died? (Calls in flight follow the crash policy.)
  RespawnPolicy respawn = RespawnPolicy::kAlways;
  // Called on every state change of the host (see WorkerState), with the id
  // of the worker concerned. Runs on a framework thread; must not block or
  // call back into the host.
  std::function<void(WorkerState state, const std::string& worker_id)> on_state_change;

  // Which host variables the worker starts from (default: all). The worker's
  // environment is built in this order, later steps winning:
  //   1. the host's variables, filtered by `environment_mode`
  //      (kAllowList: only those matching `env_allow_list`);
  //   2. minus every variable matching `env_remove`;
  //   3. plus `env` (so `env` can set a name that step 2 removed);
  //   4. plus the framework's own IW_* variables, which always win.
  EnvironmentMode environment_mode = EnvironmentMode::kInherit;
  // kAllowList only: names of host variables to pass on. An entry ending in
  // '*' is a prefix ("LC_*" passes LC_ALL, LC_CTYPE, ...).
  std::vector<std::string> env_allow_list;
  // Host variables the worker must not see, whatever the mode (exact names,
  // or prefixes ending in '*'). `env` alone can only add or replace.
  std::vector<std::string> env_remove;
  // Resource limits of the worker (default: none, except core dumps off).
  ResourceLimits limits;
  // Host-side message size limits in bytes. Unset: (iw.service)
  // max_request_bytes / max_response_bytes, then 64 MiB. The host refuses to
  // send a larger request and to accept a larger reply (RESOURCE_EXHAUSTED).
  // The worker always enforces the .proto values (it cannot see these), so a
  // request override can only make the host stricter than its worker.
  std::optional<int64_t> max_request_bytes;
  std::optional<int64_t> max_response_bytes;
  // Host middleware: runs around every call of this host, OnRequest in this
  // order and OnResponse in reverse (see middleware.h).
  std::vector<std::shared_ptr<HostMiddleware>> middleware;
  // The carrier of calls on the worker's private socketpair (see
  // WorkerTransport).
  WorkerTransport transport = WorkerTransport::kNative;
  // gRPC carriers only (kGrpc, in-process mode): carry small calls
  // (requests up to 32 KiB) over one multiplexed gRPC
  // stream per worker, batched both ways, instead of one unary RPC each:
  // several times the throughput and less CPU per call, each call keeping
  // its own deadline, cancellation, metadata and status. Larger requests,
  // and every call while the stream is not (yet) up, are unary RPCs. The
  // worker's methods stay callable as plain unary gRPC either way. See
  // docs/design.md ("The call path").
  bool call_stream = true;
  // Which workers are accepted as serving this host's service.
  SchemaCheck schema_check = SchemaCheck::kExact;
  // How worker processes are started (see StartMode).
  StartMode start_mode = StartMode::kExec;
  // In-process mode only (Start<Service>InProcess): worker middleware run
  // around the in-process handler, as WorkerConfig::middleware does in a
  // worker process. Ignored for spawned workers (their main() sets it).
  std::vector<std::shared_ptr<WorkerMiddleware>> worker_middleware;
  // In-process mode only: opens a span around the in-process handler, as
  // WorkerConfig::tracer does in a worker process (see trace_context.h).
  std::shared_ptr<WorkerTracer> worker_tracer;
  // Where a call's W3C trace context comes from when CallOptions::trace is
  // unset, e.g. an OpenTelemetry bridge reading the calling thread's span
  // (see trace_context.h, docs/tracing.md). Null: none.
  std::shared_ptr<TracePropagator> trace_propagator;
  // Where this host's log records go (about its workers, their output in
  // OutputMode::kCapture, its calls; for an in-process worker also those of
  // the worker side). Null: the process-wide sink (SetLogSink). Called from
  // framework threads; must be thread-safe.
  LogSink log_sink;
  // This host's minimum level. Unset: kWarning with a `log_sink`, the
  // process-wide level without.
  std::optional<LogLevel> log_level;
};

// How a pool of workers is sized and fed. A plain `Spawn()` is a pool of
// exactly one worker.
struct PoolOptions {
  // Workers kept running (started up front unless `lazy_start`).
  int min_workers = 1;
  // Upper bound; workers beyond min_workers start on demand.
  int max_workers = 1;
  // Calls one worker gets at once (more wait in the pool's queue). 0: for a
  // pool (max_workers > 1) the worker's handler thread count
  // ((iw.service).max_concurrent_calls, else max(4, CPUs)); for a single
  // worker, no limit (calls wait in the worker's own queue instead).
  int max_calls_per_worker = 0;
  // Calls that may wait for a free worker; one more fails at once with
  // RESOURCE_EXHAUSTED.
  int max_queued_calls = 10000;
  // Workers above min_workers idle this long are retired.
  absl::Duration idle_timeout = absl::Seconds(30);
  // Start no worker until the first call.
  bool lazy_start = false;
  // Warm spares: worker processes the pool keeps started, ready and idle
  // beyond its serving workers, out of rotation (they get no call). When a
  // worker dies, is drained (a DEADLINE_REPLACE_WORKER overrun) or recycled,
  // or the pool grows towards max_workers, a spare is promoted at once
  // instead of a spawn while calls wait, and a new spare starts in the
  // background. Cost: this many more processes, each with a worker's
  // resident memory, for the pool's whole life (spares are never retired
  // for idleness), and their startup CPU whenever one is replaced.
  //
  // Spares start in the background once the pool's first worker is
  // requested: right after SpawnPool() (which does not wait for them), or
  // with `lazy_start` at the first call. A spare that dies idle is replaced
  // (with the crash-loop backoff of a seat if it keeps dying young), logged
  // at WARNING, counted in PoolStats::spares_died, not as a crash, and not
  // reported through on_state_change (a promoted spare is reported kReady
  // under its own id, like any new worker). Close() closes them with the
  // pool. Spawned pools only (in-process and remote hosts take no
  // PoolOptions). Must be >= 0; > 0 needs RespawnPolicy::kAlways.
  int warm_spares = 0;

  // Recycling: a worker is replaced gracefully once it has served this many
  // calls, once its resident memory (read from /proc/<pid>/statm every
  // 500 ms) is above this many bytes, or once it is this old. Its
  // replacement starts first; it keeps serving until that one is ready,
  // then gets no new call and closes once its calls in flight are done. No
  // call fails because of it, and it does not count as a crash. 0 (and
  // InfiniteDuration) = never. The RSS bound applies to spawned workers
  // only (in-process and remote ones have no pid of their own).
  int64_t recycle_after_calls = 0;
  int64_t recycle_above_rss_bytes = 0;
  absl::Duration recycle_after_age = absl::InfiniteDuration();
};

// How to reach workers that run elsewhere (started by hand or by another
// supervisor, serving with --iw_listen=ADDRESS). The host controls only the
// connections: no spawn, no signals, no pid, no respawn.
struct RemoteOptions {
  // PEM root certificates that sign the workers' certificates. Empty: plain
  // text, allowed only for loopback and unix: addresses.
  std::string tls_root_certs;
  // Optional client certificate and key (PEM), for workers that require one.
  std::string tls_cert_chain;
  std::string tls_private_key;
  // The name the workers' certificates must carry, if not the address's host.
  std::string tls_server_name;
  // Bound on Connect(): some worker must answer by then.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Longest wait between two attempts to reconnect to a worker that is down
  // (gRPC's backoff, 1 s growing by 1.6x up to this): a restarted worker is
  // back in rotation at most this long after it serves again.
  absl::Duration max_reconnect_backoff = absl::Seconds(5);
  // As in WorkerOptions.
  std::optional<absl::Duration> call_timeout;
  std::function<void(WorkerState state, const std::string& worker_id)> on_state_change;
  // Calls in flight per worker: the host admits this times the number of
  // workers configured at Connect() (round_robin spreads them); more wait in
  // the host's queue. 0: no bound in the host (each worker queues calls
  // beyond its handler threads itself).
  int max_calls_per_worker = 0;
  int max_queued_calls = 10000;
  // As in WorkerOptions.
  std::vector<std::shared_ptr<HostMiddleware>> middleware;
  // As in WorkerOptions (a worker without the call stream, e.g. an older
  // build, is detected and gets unary calls only). The stream is one gRPC
  // call pinned to one worker, so it is used only when Connect() names
  // exactly one worker (an IP literal or unix: path); with several workers
  // or a DNS name every call is balanced by round_robin on its own.
  bool call_stream = true;
  // As in WorkerOptions (a worker too old to tell its schema is accepted).
  SchemaCheck schema_check = SchemaCheck::kExact;
  // As in WorkerOptions.
  std::shared_ptr<TracePropagator> trace_propagator;
  LogSink log_sink;
  std::optional<LogLevel> log_level;
};

// Host-side overrides for one method. The generated `<Service>MethodConfig`
// holds one of these per RPC, so a misspelt method name does not compile.
struct MethodOverrides {
  // Wins over WorkerOptions::call_timeout and over the .proto.
  std::optional<absl::Duration> timeout;
  // Win over (iw.method).on_deadline / deadline_grace_ms.
  std::optional<DeadlinePolicy> on_deadline;
  std::optional<absl::Duration> deadline_grace;
  // Win over (iw.method).on_crash / max_attempts (attempts in total, the
  // first included).
  std::optional<CrashPolicy> on_crash;
  std::optional<int> max_attempts;
};

// Options of one call. Thread-compatible.
struct CallOptions {
  // Timeout of this call (relative to the moment the call is made). Wins over
  // every other source. Must be positive.
  std::optional<absl::Duration> timeout;
  // The W3C trace context this call continues, sent to the worker as the
  // "traceparent" / "tracestate" metadata (CallContext::trace()). Set: the
  // host's TracePropagator is not asked (an empty TraceContext sends none);
  // host middleware sees it in HostCall::trace and may replace it. An
  // invalid value fails the call with INVALID_ARGUMENT before anything is
  // sent (see ValidateTraceContext()).
  std::optional<TraceContext> trace;
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
