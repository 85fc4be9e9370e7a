// The worker process: serves a bound handler over the socket its host passed
// (or, started by hand, on --iw_listen=ADDRESS).

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "runtime/call_context.h"
#include "runtime/codegen_support/handler_adapter.h"
#include "runtime/logging.h"
#include "runtime/process/fork_server_loop.h"
#include "runtime/process/unique_fd.h"
#include "runtime/transport/fd_transport.h"
#include "runtime/transport/network_address.h"
#include "runtime/transport/peer_credentials.h"
#include "runtime/transport/unix_socket_path.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/schema.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/native_carrier.h"
#include "runtime/worker/operational_services.h"
#include "runtime/worker/process_tuning.h"
#include "runtime/worker/ready_hook.h"
#include "runtime/worker/service.h"

namespace iw::internal {
namespace {

constexpr absl::Duration kSignalDrain = absl::Seconds(5);
constexpr absl::Duration kOrphanDrain = absl::Milliseconds(100);
// How long after its drain period a worker whose handlers are still running
// takes to end itself (see StartExitWatchdog).
constexpr absl::Duration kExitSlack = absl::Milliseconds(50);
// A listening worker ends each connection after this long (see
// GRPC_ARG_MAX_CONNECTION_AGE_MS; gRPC adds +-10% jitter).
constexpr int kMaxConnectionAgeMs = 30000;
// A listening worker told to stop says NOT_SERVING this long before its
// server stops taking calls (part of the drain).
constexpr absl::Duration kNotServingGrace = absl::Milliseconds(500);

// The server and dispatcher of a finished worker: deliberately never
// destroyed (see the end of RunWorker), kept reachable for leak checkers.
grpc::Server* g_finished_server = nullptr;
ServerReflection* g_finished_reflection = nullptr;
Dispatcher* g_finished_dispatcher = nullptr;
WorkerService* g_finished_service = nullptr;

// Written by the SIGTERM/SIGINT handler; read by the main loop.
int g_signal_pipe_write = -1;

void OnTerminationSignal(int /*signal*/) {
  int saved = errno;
  char byte = 1;
  ssize_t ignored = ::write(g_signal_pipe_write, &byte, 1);
  (void)ignored;
  errno = saved;
}

std::optional<int> FdFromEnv(const char* name) {
  const char* value = std::getenv(name);
  int fd;
  if (value == nullptr || !absl::SimpleAtoi(value, &fd) || fd < 0) return std::nullopt;
  return fd;
}

struct Args {
  std::string listen;
  // PEM files: the worker's certificate chain and key, and (optional) the CA
  // that client certificates must be signed by.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // --iw_health / --iw_reflection (listening workers only).
  OperationalServicesConfig operational;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Credentials for --iw_listen: TLS when a certificate is given, else plain
// text, which only local addresses may use.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListenCredentials(const Args& args) {
  if (args.tls_cert.empty() != args.tls_key.empty()) {
    return absl::InvalidArgumentError("--iw_tls_cert and --iw_tls_key go together");
  }
  if (args.tls_cert.empty()) {
    if (!args.tls_client_ca.empty()) {
      return absl::InvalidArgumentError("--iw_tls_client_ca needs --iw_tls_cert/--iw_tls_key");
    }
    absl::Status allowed = CheckPlaintextAllowed(args.listen, "listen on");
    if (!allowed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(allowed.message(), " (give --iw_tls_cert and --iw_tls_key)"));
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  absl::StatusOr<std::string> cert = ReadFile(args.tls_cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(args.tls_key);
  if (!key.ok()) return key.status();
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!args.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(args.tls_client_ca);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// The filesystem path of a "unix:PATH" / "unix:///PATH" listen address, or
// nothing for other schemes (TCP, unix-abstract:).
std::optional<std::string> UnixPathOf(absl::string_view address) {
  if (!absl::ConsumePrefix(&address, "unix:")) return std::nullopt;
  if (absl::StartsWith(address, "//")) address.remove_prefix(2);
  return std::string(address);
}

// Why the worker stops, and how long in-flight calls may take.
struct StopReason {
  std::string why;
  absl::Duration drain;
  // The host asked (it then half-closes its call stream itself once its
  // calls are answered, including calls still on their way to us).
  bool host_requested = false;
  // The worker ends with exit code 1 (the host broke the protocol).
  bool failed = false;
};

// Blocks until the host asks to stop, the host goes away, the native
// carrier's connection ends (`carrier`, may be null), or a termination signal
// arrives.
StopReason WaitForStop(int control_fd, int signal_fd, const NativeCarrier* carrier) {
  while (true) {
    struct pollfd fds[3] = {{signal_fd, POLLIN, 0},
                            {control_fd, POLLIN, 0},
                            {carrier ? carrier->ended_fd() : -1, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return {absl::StrCat("poll failed: ", ::strerror(errno)), kSignalDrain};
    }
    if (fds[0].revents != 0) return {"termination signal", kSignalDrain};
    // The control socket before the connection: a host that asked us to
    // stop and then closed the connection (its calls were answered) has
    // both pending, and its request carries the grace period. Seen the
    // other way round, it was taken for a host gone (100 ms to drain).
    if (control_fd >= 0 && fds[1].revents != 0) {
      ShutdownRequest request;
      ssize_t n = ::read(control_fd, &request, sizeof(request));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n == static_cast<ssize_t>(sizeof(request)) && request.tag == kShutdown) {
        return {"host requested shutdown", absl::Milliseconds(request.grace_ms),
                /*host_requested=*/true};
      }
      return {"host went away (control channel closed)", kOrphanDrain};
    }
    if (fds[2].revents != 0) {
      // The host closed the connection (it does after asking us to stop,
      // or as it dies) or broke the protocol: nothing more will come.
      const absl::Status why = carrier->status();
      if (why.ok()) return {"host closed the call connection", kOrphanDrain};
      return {absl::StrCat("call connection ended: ", why.message()), kOrphanDrain, false,
              /*failed=*/true};
    }
  }
}

// Ends the process at `at`, whatever its handlers do. gRPC's
// Server::Shutdown() cancels the calls at its deadline and then waits for
// every handler to return: one that ignores cancellation would keep the worker
// alive (an orphan whose host was SIGKILLed, or one its host is closing) for
// as long as it runs, forever if it never returns. Detached; disarmed
// (DisarmExitWatchdog) once every handler has returned: what exit() does then
// (static destructors, the user's atexit handlers) may take its time, the
// host waits for it within its own close escalation. (A worker forked by a
// fork server took ~100 ms in exit() under load, and was cut short here with
// a false "handlers still running".)
std::atomic<bool> g_exit_watchdog_disarmed{false};

void DisarmExitWatchdog() { g_exit_watchdog_disarmed.store(true); }

void StartExitWatchdog(absl::Time at, std::string worker_id) {
  std::thread([at, worker_id = std::move(worker_id)] {
    absl::SleepFor(at - absl::Now());
    if (g_exit_watchdog_disarmed.load()) return;
    Log(LogLevel::kWarning, worker_id,
        "handlers still running after the drain period; exiting without them");
    std::fflush(nullptr);
    std::_Exit(0);
  }).detach();
}

// A spawned worker on the native carrier (the host set kCarrierEnv): no gRPC
// server at all; the calls come straight off `call_fd`.
int ServeNative(std::unique_ptr<Dispatcher> dispatcher, int call_fd, int control_fd,
                int signal_fd) {
  const std::string& worker_id = dispatcher->worker_id();
  std::unique_ptr<NativeCarrier> carrier = StartNativeCarrier(dispatcher.get(), UniqueFd(call_fd));
  RunBeforeReadyHook();
  // As on gRPC, with 'N': the host knows to speak frames.
  if (!SendReady(control_fd, EncodeSchema(SchemaOf(*dispatcher->binding().service)),
                 /*native=*/true)
           .ok()) {
    return 1;  // the host is gone already
  }
  StartTscCalibration();  // only now: see process_tuning.cc
  StopReason stop = WaitForStop(control_fd, signal_fd, carrier.get());
  Log(stop.failed ? LogLevel::kError : LogLevel::kInfo, worker_id,
      absl::StrCat("stopping: ", stop.why));
  const absl::Time deadline = absl::Now() + stop.drain;
  StartExitWatchdog(deadline + kExitSlack, worker_id);
  // A host that asked us to stop closes the connection once its calls are
  // answered; otherwise the connection ends as soon as the calls already
  // on it are answered.
  if (!stop.host_requested) dispatcher->BeginShutdown();
  carrier->WaitDone(deadline);  // at the deadline, running calls are cancelled
  if (!dispatcher->WaitIdle(deadline + kExitSlack)) {
    Log(LogLevel::kWarning, worker_id,
        "handlers still running after the drain period; exiting without them");
    std::fflush(nullptr);
    std::_Exit(0);
  }
  DisarmExitWatchdog();
  carrier.reset();
  dispatcher.reset();
  std::fflush(nullptr);
  return stop.failed ? 1 : 0;
}

}  // namespace

// codegen::RunWorker(): parses the arguments, serves until told to stop,
// drains.
int Serve(int argc, char** argv, const codegen::ServiceBinding& binding,
          const WorkerConfig& config) {
  // Started as a fork server (WorkerOptions::start_mode)? Then this returns
  // only in a forked worker, with the environment and descriptors its host
  // asked for: from here on it is the worker an exec would have started.
  ServeForkRequestsIfAsked(WarmUpForkServer);
  if (config.on_start) {
    if (absl::Status started = config.on_start(); !started.ok()) {
      std::fprintf(stderr, "%s: WorkerConfig::on_start failed: %s\n", argv[0],
                   started.ToString().c_str());
      std::fflush(stderr);
      return 3;
    }
  }
  const codegen::ServiceInfo& service = *binding.service;
  Args args;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--iw_listen=")) args.listen = std::string(arg);
    if (absl::ConsumePrefix(&arg, "--iw_tls_cert=")) args.tls_cert = std::string(arg);
    if (absl::ConsumePrefix(&arg, "--iw_tls_key=")) args.tls_key = std::string(arg);
    if (absl::ConsumePrefix(&arg, "--iw_tls_client_ca=")) args.tls_client_ca = std::string(arg);
    absl::StatusOr<bool> operational = ParseOperationalServicesFlag(argv[i], &args.operational);
    if (!operational.ok()) {
      std::fprintf(stderr, "%s: %s\n", argv[0],
                   std::string(operational.status().message()).c_str());
      return 2;
    }
  }
  std::optional<int> grpc_fd = FdFromEnv(kGrpcFdEnv);
  std::optional<int> control_fd = FdFromEnv(kControlFdEnv);
  const char* id_env = std::getenv(kWorkerIdEnv);
  std::string worker_id = id_env ? id_env : absl::StrCat(service.full_name, " pid ", ::getpid());
  // Our descriptors must not leak into processes the handler may start.
  for (std::optional<int> fd : {grpc_fd, control_fd}) {
    if (fd) ::fcntl(*fd, F_SETFD, FD_CLOEXEC);
  }
  if (args.listen.empty() && !(grpc_fd && control_fd)) {
    // Console output for a person who ran the binary by hand, not a log
    // event: printed whatever the log sink.
    std::fprintf(
        stderr,
        "%s: this is an isolated-workers worker for %s.\n"
        "It is normally spawned by its host. To serve by hand:\n"
        "  %s --iw_listen=unix:/path/to/socket   (or 127.0.0.1:PORT, or any\n"
        "      address with --iw_tls_cert=FILE --iw_tls_key=FILE [--iw_tls_client_ca=FILE])\n"
        "  --iw_health=false       no grpc.health.v1.Health service (default: served)\n"
        "  --iw_reflection=false   no gRPC server reflection (default: served; it shows\n"
        "                          the service's schema to any client that can connect)\n"
        "See docs/remote.md, \"Health and reflection\".\n",
        argv[0], service.full_name, argv[0]);
    return 2;
  }

  // A Unix socket path must fit sun_path (never truncated), and a stale
  // socket of a killed worker must not block us.
  const std::optional<std::string> unix_path = UnixPathOf(args.listen);
  if (unix_path) {
    absl::Status usable = CheckUnixSocketPath(*unix_path);
    if (usable.ok()) usable = RemoveStaleUnixSocket(*unix_path);
    if (!usable.ok()) {
      Log(LogLevel::kError, worker_id,
          absl::StrCat("cannot listen on ", args.listen, ": ", usable.message()));
      return 2;
    }
  }

  // A closed peer must give EPIPE, not kill the worker.
  ::signal(SIGPIPE, SIG_IGN);
  TuneWorkerProcess();
  int signal_pipe[2];
  if (::pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    Log(LogLevel::kError, worker_id, absl::StrCat("pipe2: ", std::strerror(errno)));
    return 1;
  }
  UniqueFd signal_read(signal_pipe[0]);
  g_signal_pipe_write = signal_pipe[1];
  struct sigaction action;
  ::memset(&action, 0, sizeof(action));
  action.sa_handler = OnTerminationSignal;
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);

  auto dispatcher = std::make_unique<Dispatcher>(binding, worker_id, config);
  // This thread's records (stopping, draining) go to WorkerConfig::log_sink
  // too; the copy outlives the dispatcher.
  const Logger worker_logger = dispatcher->logger();
  CurrentCallScope worker_records(nullptr, &worker_logger);
  // Without a host (started by hand), any client may call: the .proto's
  // bounds hold for each of them.
  if (!(grpc_fd && control_fd)) dispatcher->BoundCallsByProto();
  if (control_fd) {
    // Tell the host why before going (it reads this when it sees the exit).
    dispatcher->SetOverrunHandler(
        [fd = *control_fd, id = worker_id](const std::string& description) {
          Log(LogLevel::kError, id, description);
          std::string notice(1, static_cast<char>(kReplaced));
          uint16_t size = static_cast<uint16_t>(std::min<size_t>(description.size(), 60000));
          notice.append(reinterpret_cast<const char*>(&size), sizeof(size));
          notice.append(description, 0, size);
          ssize_t ignored = ::send(fd, notice.data(), notice.size(), MSG_NOSIGNAL);
          (void)ignored;
          std::fflush(nullptr);
          std::_Exit(kReplacedExitCode);
        });
    dispatcher->SetRecycleHandler([fd = *control_fd] {
      const char tag = static_cast<char>(kRecycle);
      ssize_t ignored = ::send(fd, &tag, 1, MSG_NOSIGNAL);
      (void)ignored;
    });
  }
  const char* carrier = std::getenv(kCarrierEnv);
  if (grpc_fd && control_fd && args.listen.empty() && carrier != nullptr &&
      absl::string_view(carrier) == kCarrierNative) {
    return ServeNative(std::move(dispatcher), *grpc_fd, *control_fd, signal_read.get());
  }
  if (!args.listen.empty()) {
    // Remote hosts (and Kubernetes probes) check grpc.health.v1.Health:
    // SERVING for "" and this service while calls are welcome, NOT_SERVING
    // once draining (unless --iw_health=false). Set before the builder.
    EnableHealthService(args.operational);
  }
  grpc::ServerBuilder builder;
  ConfigureServer(service, builder);
  if (!args.listen.empty()) {
    // Hosts re-resolve a DNS name when a connection ends: end each one
    // after a while (gracefully: calls in flight finish) so that workers
    // added behind the name are found.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, kMaxConnectionAgeMs);
  }
  auto service_routes = std::make_unique<WorkerService>(dispatcher.get());
  builder.RegisterCallbackGenericService(service_routes.get());
  // grpcurl, grpc_cli and Postman discover the service by reflection
  // (unless --iw_reflection=false).
  std::unique_ptr<ServerReflection> reflection;
  if (!args.listen.empty()) {
    absl::StatusOr<std::unique_ptr<ServerReflection>> added =
        AddServerReflection(service, args.operational, builder);
    if (!added.ok()) {
      Log(LogLevel::kError, worker_id,
          absl::StrCat("cannot serve gRPC reflection: ", added.status().message()));
      return 1;
    }
    reflection = *std::move(added);
    if (reflection != nullptr && !HasServiceDescriptor(service.full_name)) {
      Log(LogLevel::kWarning, worker_id,
          absl::StrCat("reflection lists ", service.full_name,
                       " but cannot describe it: its .proto has no descriptors (lite runtime?)"));
    }
  }
  int selected_port = 0;
  if (!args.listen.empty()) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ListenCredentials(args);
    if (!credentials.ok()) {
      Log(LogLevel::kError, worker_id,
          absl::StrCat("cannot listen on ", args.listen, ": ", credentials.status().message()));
      return 2;
    }
    builder.AddListeningPort(args.listen, *credentials, &selected_port);
  }
  // The socket file is created by bind() with mode 0777 & ~umask: make it
  // 0600 (owner only) from the start, with no window in which another user
  // could connect. umask is process-wide; no other thread creates files yet.
  const mode_t saved_umask = unix_path ? ::umask(0177) : 0;
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (unix_path) ::umask(saved_umask);
  if (server == nullptr) {
    Log(LogLevel::kError, worker_id,
        absl::StrCat("could not start the gRPC server", args.listen.empty() ? "" : " on ",
                     args.listen));
    return 1;
  }
  if (!args.listen.empty()) {
    if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService()) {
      health->SetServingStatus(service.full_name, true);
    }
    // Console output too: the banner docs/remote.md describes (scripts wait
    // for it), whatever the log sink.
    std::fprintf(stderr, "iw worker: serving %s on %s (port %d%s)\n", service.full_name,
                 args.listen.c_str(), selected_port,
                 args.tls_cert.empty() ? ", plain text" : ", TLS");
  }
  if (grpc_fd && control_fd) {
    if (absl::Status s = ServeOverFd(server.get(), UniqueFd(*grpc_fd)); !s.ok()) {
      Log(LogLevel::kError, worker_id, s.message());
      return 1;
    }
    // The ready byte carries our kernel-verified pid/uid (SCM_CREDENTIALS):
    // the host accepts it only from the process it spawned.
    RunBeforeReadyHook();
    if (!SendReady(*control_fd, EncodeSchema(SchemaOf(service))).ok()) {
      // The host is gone already.
      server->Shutdown(absl::ToChronoTime(absl::Now()));
      return 1;
    }
  }

  StopReason stop = WaitForStop(control_fd.value_or(-1), signal_read.get(), nullptr);
  Log(LogLevel::kInfo, worker_id, absl::StrCat("stopping: ", stop.why));
  absl::Time deadline = absl::Now() + stop.drain;
  StartExitWatchdog(deadline + kExitSlack, worker_id);
  if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService()) {
    // A listening worker leaves rotation first: NOT_SERVING reaches the
    // hosts' health watches, they stop sending new calls here, and calls
    // already on their way are still served normally. Only then does the
    // server stop taking calls (it would cancel those that arrive later).
    health->SetServingStatus(false);
    absl::SleepFor(std::min(kNotServingGrace, stop.drain));
  }
  // Shutdown() waits for every call, and a call stream lasts as long as its
  // host keeps it open. A host that asked us to stop closes it once its
  // calls are answered; otherwise (signal, host gone) streams end as soon
  // as the calls already on them are answered.
  if (!stop.host_requested) dispatcher->BeginShutdown();
  server->Shutdown(absl::ToChronoTime(deadline));
  if (!dispatcher->WaitIdle(deadline + kExitSlack)) {
    // A handler ignores cancellation: do not wait for it forever.
    Log(LogLevel::kWarning, worker_id,
        "handlers still running after the drain period; exiting without them");
    std::fflush(nullptr);
    std::_Exit(0);
  }
  server->Wait();
  DisarmExitWatchdog();
  // Deliberately not destroyed: ~Server() runs grpc_shutdown(), which in
  // gRPC 1.51 can block for ~10 s joining an executor thread stuck in a poll
  // (seen after large messages), long enough for the host to escalate to
  // SIGKILL. Every call is done and the process is about to exit.
  // Kept reachable (leak checkers) until the process exits.
  g_finished_server = server.release();
  g_finished_dispatcher = dispatcher.release();
  g_finished_service = service_routes.release();
  g_finished_reflection = reflection.release();
  std::fflush(nullptr);
  return 0;
}

}  // namespace iw::internal

namespace iw::codegen {

int RunWorker(int argc, char** argv, const ServiceBinding& binding) {
  return internal::Serve(argc, argv, binding, WorkerConfig());
}

int RunWorker(int argc, char** argv, const ServiceBinding& binding, const WorkerConfig& config) {
  return internal::Serve(argc, argv, binding, config);
}

}  // namespace iw::codegen
