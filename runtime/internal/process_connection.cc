#include "runtime/internal/process_connection.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/codegen_support/host_stub_base.h"
#include "runtime/internal/control_protocol.h"
#include "runtime/internal/grpc_config.h"
#include "runtime/internal/spawn_environment.h"
#include "runtime/logging.h"
#include "runtime/transport/fd_transport.h"

namespace iw::internal {
namespace {

std::atomic<int> g_next_worker_number{1};

absl::string_view ShortName(absl::string_view full_name) {
  size_t dot = full_name.rfind('.');
  return dot == absl::string_view::npos ? full_name : full_name.substr(dot + 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> SpawnWorker(
    const ServiceInfo& service, WorkerOptions options,
    std::vector<MethodOverrides> method_overrides) {
  return ProcessConnection::Spawn(service, std::move(options),
                                  std::move(method_overrides));
}

ProcessConnection::ProcessConnection(const ServiceInfo& service,
                                     const WorkerOptions& options,
                                     std::vector<MethodOverrides> method_overrides)
    : GrpcConnection(service, std::move(method_overrides), options.call_timeout),
      executable_(options.executable) {}

absl::StatusOr<std::unique_ptr<Connection>> ProcessConnection::Spawn(
    const ServiceInfo& service, WorkerOptions options,
    std::vector<MethodOverrides> method_overrides) {
  if (!method_overrides.empty() &&
      method_overrides.size() != static_cast<size_t>(service.method_count)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spawn ", service.full_name, ": expected ", service.method_count,
        " method overrides, got ", method_overrides.size()));
  }
  std::unique_ptr<ProcessConnection> connection(
      new ProcessConnection(service, options, std::move(method_overrides)));
  absl::Status started = connection->Start(options);
  if (!started.ok()) return started;
  return std::unique_ptr<Connection>(std::move(connection));
}

absl::Status ProcessConnection::Start(const WorkerOptions& options) {
  const std::string what = absl::StrCat("spawn worker for ", service().full_name);
  if (options.executable.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": WorkerOptions::executable is empty"));
  }
  absl::StatusOr<ResolvedTimeout> startup = ResolveStartupTimeout(service(), options);
  if (!startup.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", startup.status().message()));
  }
  absl::StatusOr<SocketPair> grpc_pair = CreateSocketPair();
  if (!grpc_pair.ok()) return absl::Status(grpc_pair.status().code(), absl::StrCat(what, ": ", grpc_pair.status().message()));
  absl::StatusOr<SocketPair> control_pair = CreateSocketPair();
  if (!control_pair.ok()) return absl::Status(control_pair.status().code(), absl::StrCat(what, ": ", control_pair.status().message()));
  monitor_wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!monitor_wake_.valid()) return absl::ErrnoToStatus(errno, absl::StrCat(what, ": eventfd()"));

  const std::string base_id =
      absl::StrCat(ShortName(service().full_name), "#", g_next_worker_number.fetch_add(1));
  SpawnSpec spec;
  spec.executable = options.executable;
  spec.argv.push_back(options.executable);
  spec.argv.insert(spec.argv.end(), options.args.begin(), options.args.end());
  spec.env = WorkerEnvironment(options, {{kGrpcFdEnv, absl::StrCat(kWorkerGrpcFd)},
                                           {kControlFdEnv, absl::StrCat(kWorkerControlFd)},
                                           {kWorkerIdEnv, base_id}});
  spec.working_directory = options.working_directory;
  spec.fds = {{grpc_pair->worker.get(), kWorkerGrpcFd},
              {control_pair->worker.get(), kWorkerControlFd}};
  UniqueFd dev_null;
  if (options.stdout_mode == OutputMode::kDiscard ||
      options.stderr_mode == OutputMode::kDiscard) {
    dev_null.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!dev_null.valid()) return absl::ErrnoToStatus(errno, absl::StrCat(what, ": open /dev/null"));
  }
  if (options.stdout_mode == OutputMode::kDiscard) spec.stdout_fd = dev_null.get();
  if (options.stderr_mode == OutputMode::kDiscard) spec.stderr_fd = dev_null.get();

  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  if (!process.ok()) {
    return absl::Status(process.status().code(),
                        absl::StrCat(what, ": ", process.status().message()));
  }
  process_ = std::move(*process);
  set_worker_id(absl::StrCat(base_id, " (pid ", process_->pid(), ")"));
  grpc_pair->worker.reset();
  control_pair->worker.reset();
  control_ = std::move(control_pair->host);
  Log(LogLevel::kDebug, worker_id(), absl::StrCat("spawned ", executable_));

  if (absl::Status ready = WaitReady(*startup); !ready.ok()) {
    absl::MutexLock lock(&mu_);
    SetState(WorkerState::kCrashed);
    return ready;
  }
  if (absl::Status s = SetNonBlocking(grpc_pair->host.get()); !s.ok()) return s;
  AttachChannel(CreateChannelOverFd(std::move(grpc_pair->host), HostChannelArguments(service())));
  {
    absl::MutexLock lock(&mu_);
    SetState(WorkerState::kReady);
  }
  monitor_ = std::thread([this] { Monitor(); });
  Log(LogLevel::kInfo, worker_id(), "ready");
  return absl::OkStatus();
}

absl::Status ProcessConnection::WaitReady(const ResolvedTimeout& startup) {
  const absl::Time deadline = absl::Now() + startup.timeout;
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    struct pollfd fds[2] = {{control_.get(), POLLIN, 0}, {process_->pidfd(), POLLIN, 0}};
    int timeout_ms = static_cast<int>(
        absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
    int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("spawn ", worker_id(), ": poll()"));
    if (fds[0].revents & POLLIN) {
      uint8_t byte = 0;
      ssize_t r = ::recv(control_.get(), &byte, 1, MSG_DONTWAIT);
      if (r == 1 && byte == kReady) return absl::OkStatus();
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    }
    if (fds[0].revents != 0 || fds[1].revents != 0) {
      // The worker closed its end or exited: it is dying or dead.
      std::optional<ExitStatus> status =
          process_->Wait(absl::Now() + absl::Seconds(5));
      if (!status) {
        process_->Signal(SIGKILL, /*group=*/true);
        status = process_->Wait(absl::InfiniteFuture());
      }
      return absl::UnavailableError(absl::StrCat(
          "spawn worker ", worker_id(), " (", executable_,
          "): exited before it was ready: ", status->ToString()));
    }
  }
  // Startup timeout: kill and reap it.
  bool alive = !process_->TryReap().has_value();
  process_->Signal(SIGKILL, /*group=*/true);
  process_->Wait(absl::InfiniteFuture());
  return absl::DeadlineExceededError(absl::StrCat(
      "spawn worker ", worker_id(), " (", executable_, "): not ready within ",
      absl::FormatDuration(startup.timeout), " (startup timeout from ", startup.source,
      "); ", alive ? "it was still running and has been killed" : "it had exited"));
}

void ProcessConnection::Monitor() {
  while (true) {
    struct pollfd fds[2] = {{process_->pidfd(), POLLIN, 0}, {monitor_wake_.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (fds[1].revents != 0) return;
    if (fds[0].revents != 0) {
      std::optional<ExitStatus> status = process_->Wait(absl::Now() + absl::Seconds(1));
      absl::MutexLock lock(&mu_);
      if (state_ == WorkerState::kReady || state_ == WorkerState::kStarting) {
        SetState(WorkerState::kCrashed);
        Log(LogLevel::kError, worker_id(),
            absl::StrCat("crashed: ", status ? status->ToString() : "unknown status"));
      }
      return;
    }
  }
}

void ProcessConnection::SetState(WorkerState state) { state_ = state; }

WorkerState ProcessConnection::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

int ProcessConnection::pid() const {
  if (process_ == nullptr || process_->exit_status().has_value()) return 0;
  return process_->pid();
}

std::string ProcessConnection::DescribeEnd(const ExitStatus& status) const {
  return absl::StrCat("worker ", worker_id(), " crashed: ", status.ToString());
}

absl::Status ProcessConnection::AdmissionError(int method_index) {
  const std::string method = MethodDisplayName(service(), method_index);
  absl::MutexLock lock(&mu_);
  if (state_ == WorkerState::kCrashed) {
    std::optional<ExitStatus> status = process_->exit_status();
    return absl::UnavailableError(absl::StrCat(
        method, ": ", status ? DescribeEnd(*status) : absl::StrCat("worker ", worker_id(), " crashed")));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      method, ": worker ", worker_id(), " is ", WorkerStateName(state_)));
}

absl::Status ProcessConnection::ExplainUnavailable(int method_index,
                                                   const absl::Status& transport) {
  const std::string method = MethodDisplayName(service(), method_index);
  // The connection broke: give the process a moment to be reaped so the
  // message can carry its exit status.
  std::optional<ExitStatus> status = process_->Wait(absl::Now() + absl::Milliseconds(200));
  if (!status) {
    return absl::UnavailableError(absl::StrCat(method, ": connection to worker ",
                                               worker_id(), " failed: ", transport.message()));
  }
  bool closing;
  {
    absl::MutexLock lock(&mu_);
    closing = state_ == WorkerState::kClosing || state_ == WorkerState::kClosed;
  }
  if (closing) {
    return absl::UnavailableError(absl::StrCat(
        method, ": worker ", worker_id(), " was closed while the call was in flight (",
        status->ToString(), ")"));
  }
  return absl::UnavailableError(absl::StrCat(method, ": ", DescribeEnd(*status)));
}

std::optional<ExitStatus> ProcessConnection::DrainAndWait(absl::Time deadline) {
  // The worker's gRPC server finishes its shutdown only once our connection
  // is gone, so drop the channel as soon as no call needs it any more.
  if (WaitForCalls(deadline)) {
    DetachChannel();
    // Leave a moment to exit even when the calls used up the period.
    deadline = std::max(deadline, absl::Now() + absl::Milliseconds(100));
  }
  return process_->Wait(deadline);
}

absl::Status ProcessConnection::Close(const CloseOptions& options) {
  {
    absl::MutexLock lock(&mu_);
    if (close_result_.has_value()) return *close_result_;
    if (state_ == WorkerState::kReady || state_ == WorkerState::kStarting) {
      SetState(WorkerState::kClosing);
    }
  }
  StopAccepting();
  absl::Status result = absl::OkStatus();
  if (process_ != nullptr && !process_->TryReap().has_value()) {
    // 1. Ask the worker to drain and exit within the grace period.
    const absl::Time grace_deadline = absl::Now() + options.grace;
    ShutdownRequest request;
    request.grace_ms = static_cast<uint32_t>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(options.grace)));
    ssize_t ignored = ::send(control_.get(), &request, sizeof(request), MSG_NOSIGNAL);
    (void)ignored;
    std::optional<ExitStatus> status = DrainAndWait(grace_deadline);
    // 2. SIGTERM.
    if (!status) {
      Log(LogLevel::kWarning, worker_id(),
          absl::StrCat("did not exit within the grace period of ",
                       absl::FormatDuration(options.grace), "; sending SIGTERM"));
      process_->Signal(SIGTERM);
      status = DrainAndWait(absl::Now() + options.term_timeout);
    }
    // 3. SIGKILL.
    if (!status) {
      Log(LogLevel::kWarning, worker_id(),
          absl::StrCat("did not exit within ", absl::FormatDuration(options.term_timeout),
                       " of SIGTERM; sending SIGKILL"));
      process_->Signal(SIGKILL, /*group=*/true);
      status = process_->Wait(absl::InfiniteFuture());
      result = absl::DeadlineExceededError(absl::StrCat(
          "close ", worker_id(), ": the worker did not exit after its grace period and "
          "SIGTERM; it was killed with SIGKILL"));
    }
  } else if (process_ != nullptr) {
    std::optional<ExitStatus> status = process_->exit_status();
    bool crashed;
    {
      absl::MutexLock lock(&mu_);
      crashed = state_ == WorkerState::kCrashed;
    }
    if (crashed && status) result = absl::UnavailableError(DescribeEnd(*status));
  }
  // The worker is gone, so every call still in flight fails promptly.
  if (!WaitForCalls(absl::Now() + absl::Seconds(10))) {
    Log(LogLevel::kError, worker_id(), "calls still in flight 10s after the worker exited");
  }
  if (monitor_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = ::write(monitor_wake_.get(), &one, sizeof(one));
    (void)ignored;
    monitor_.join();
  }
  DetachChannel();
  control_.reset();
  absl::MutexLock lock(&mu_);
  if (state_ != WorkerState::kCrashed) SetState(WorkerState::kClosed);
  close_result_ = result;
  Log(LogLevel::kInfo, worker_id(), "closed");
  return result;
}

ProcessConnection::~ProcessConnection() {
  CloseOptions quick;
  quick.grace = absl::Seconds(1);
  quick.term_timeout = absl::Seconds(1);
  Close(quick).IgnoreError();
}

}  // namespace iw::internal
