#include "runtime/host/worker_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "runtime/common/status_macros.h"
#include "runtime/host/crash_details.h"
#include "runtime/host/spawn_environment.h"
#include "runtime/logging.h"
#include "runtime/process/fork_server.h"
#include "runtime/transport/fd_transport.h"
#include "runtime/transport/peer_credentials.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/grpc_workarounds.h"
#include "runtime/wire/schema.h"

namespace iw::internal {
namespace {

std::atomic<int> g_next_worker_number{1};

absl::string_view ShortName(absl::string_view full_name) {
  size_t dot = full_name.rfind('.');
  return dot == absl::string_view::npos ? full_name : full_name.substr(dot + 1);
}

// How long to wait for the last stderr bytes of a dead worker.
constexpr absl::Duration kStderrDrain = absl::Milliseconds(100);

// How long after the grace period Close() waits for the worker to exit by
// itself before it sends SIGTERM: a worker ends itself 50 ms after its drain
// period even when a handler ignores cancellation (see worker.cc), and this
// leaves it the time to do so on a loaded machine.
constexpr absl::Duration kSelfExitAllowance = absl::Milliseconds(500);

}  // namespace

WorkerProcess::WorkerProcess(const codegen::ServiceInfo& service, const WorkerOptions& options)
    : GrpcEndpoint(service),
      executable_(options.executable),
      logger_(options.log_sink, options.log_level) {}

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Spawn(
    const codegen::ServiceInfo& service, const WorkerOptions& options,
    const ResolvedTimeout& startup) {
  std::unique_ptr<WorkerProcess> worker(new WorkerProcess(service, options));
  absl::Status started = worker->Start(options, startup);
  if (!started.ok()) return started;
  return worker;
}

absl::Status WorkerProcess::Start(const WorkerOptions& options, const ResolvedTimeout& startup) {
  const absl::Time startup_deadline = absl::Now() + startup.timeout;
  const std::string what = absl::StrCat("spawn worker for ", service().full_name);
  if (options.executable.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": WorkerOptions::executable is empty"));
  }
  absl::StatusOr<SocketPair> grpc_pair = CreateSocketPair();
  if (!grpc_pair.ok()) return Prefixed(grpc_pair.status(), what);
  absl::StatusOr<SocketPair> control_pair = CreateSocketPair();
  if (!control_pair.ok()) return Prefixed(control_pair.status(), what);
  // Before the spawn: the worker's ready message carries its kernel-verified
  // credentials, which we check against the pid we spawned.
  if (absl::Status s = EnablePeerCredentials(control_pair->host.get()); !s.ok()) {
    return Prefixed(s, what);
  }
  monitor_wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!monitor_wake_.valid()) {
    return absl::ErrnoToStatus(errno, absl::StrCat(what, ": eventfd()"));
  }
  absl::StatusOr<std::unique_ptr<OutputCapture>> err =
      OutputCapture::Create(options.stderr_mode, STDERR_FILENO);
  if (!err.ok()) return Prefixed(err.status(), what);
  stderr_ = std::move(*err);
  if (options.stdout_mode == OutputMode::kCapture) {
    absl::StatusOr<std::unique_ptr<OutputCapture>> out =
        OutputCapture::Create(OutputMode::kCapture, STDOUT_FILENO);
    if (!out.ok()) return Prefixed(out.status(), what);
    stdout_ = std::move(*out);
  }

  const std::string base_id =
      absl::StrCat(ShortName(service().full_name), "#", g_next_worker_number.fetch_add(1));
  SpawnSpec spec;
  spec.executable = options.executable;
  spec.argv.push_back(options.executable);
  spec.argv.insert(spec.argv.end(), options.args.begin(), options.args.end());
  std::map<std::string, std::string> framework_env = {
      {kGrpcFdEnv, absl::StrCat(kWorkerGrpcFd)},
      {kControlFdEnv, absl::StrCat(kWorkerControlFd)},
      {kWorkerIdEnv, base_id}};
  // A worker that speaks the native carrier answers 'N' and serves it; an
  // older one ignores this and serves gRPC (then so does the host).
  if (options.transport == WorkerTransport::kNative) {
    framework_env.emplace(kCarrierEnv, kCarrierNative);
  }
  spec.env = WorkerEnvironment(options, framework_env);
  spec.working_directory = options.working_directory;
  spec.fds = {{grpc_pair->worker.get(), kWorkerGrpcFd},
              {control_pair->worker.get(), kWorkerControlFd}};
  spec.limits = options.limits;
  spec.stderr_fd = stderr_->child_fd();
  UniqueFd dev_null;
  if (options.stdout_mode == OutputMode::kDiscard) {
    dev_null.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!dev_null.valid()) {
      return absl::ErrnoToStatus(errno, absl::StrCat(what, ": open /dev/null"));
    }
    spec.stdout_fd = dev_null.get();
  } else if (stdout_ != nullptr) {
    spec.stdout_fd = stdout_->child_fd();
  }

  // What differs from worker to worker: a fork server starts without these.
  std::vector<std::string> per_worker_env;
  for (const auto& [name, value] : framework_env) per_worker_env.push_back(name);
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = StartChildProcess(
      spec, per_worker_env, options.start_mode == StartMode::kForkServer, startup_deadline);
  if (!process.ok()) {
    WorkerCrash crash;
    crash.set_cause(WorkerCrash::SPAWN_FAILURE);
    crash.set_worker_id(base_id);
    return WithCrash(Prefixed(process.status(), what), crash);
  }
  process_ = std::move(*process);
  set_id(absl::StrCat(base_id, " (pid ", process_->pid(), ")"));
  stderr_->Start(id(), logger_);
  if (stdout_ != nullptr) stdout_->Start(id(), logger_);
  grpc_pair->worker.reset();
  control_pair->worker.reset();
  control_ = std::move(control_pair->host);
  logger_.Log(LogLevel::kDebug, id(), absl::StrCat("spawned ", executable_));

  bool native = false;
  if (absl::Status ready = WaitReady(startup, options.schema_check, &native); !ready.ok()) {
    close_.SetResult(ready);  // reaped already: closing returns this
    return ready;
  }
  if (absl::Status s = SetNonBlocking(grpc_pair->host.get()); !s.ok()) {
    return Prefixed(s, what);
  }
  const HostMessageLimits limits = HostLimits(service(), &options);
  if (native) {
    AttachNative(NativeConnection::Open(
                     std::move(grpc_pair->host), service(), static_cast<size_t>(limits.max_request),
                     static_cast<size_t>(limits.max_reply),
                     [this](const absl::Status& why) { OnProtocolViolation(why); }),
                 limits);
  } else {
    PinGrpcCallbackQueue();
    AttachChannel(CreateChannelOverFd(std::move(grpc_pair->host), HostChannelArguments(limits)),
                  limits, options.call_stream, startup_deadline);
  }
  monitor_ = std::thread([this] { Monitor(); });
  logger_.Log(LogLevel::kInfo, id(), "ready");
  return absl::OkStatus();
}

absl::Status WorkerProcess::CheckWorkerSchema(SchemaCheck schema_check, absl::Time deadline) {
  const std::string what = absl::StrCat("spawn worker ", id(), " (", executable_, ")");
  absl::StatusOr<std::string> encoded = ReceiveSchema(control_.get(), deadline);
  if (!encoded.ok()) return Prefixed(encoded.status(), what);
  absl::StatusOr<ServiceSchema> theirs = DecodeSchema(*encoded);
  if (!theirs.ok()) return Prefixed(theirs.status(), what);
  return CheckSchema(SchemaOf(service()), *theirs, schema_check, what);
}

absl::Status WorkerProcess::WaitReady(const ResolvedTimeout& startup, SchemaCheck schema_check,
                                      bool* native) {
  const absl::Time deadline = absl::Now() + startup.timeout;
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    struct pollfd fds[2] = {{control_.get(), POLLIN, 0}, {process_->pidfd(), POLLIN, 0}};
    int timeout_ms =
        static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
    int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("spawn ", id(), ": poll()"));
    if (fds[0].revents & POLLIN) {
      absl::StatusOr<ReadyState> ready = ReceiveReady(control_.get(), process_->pid());
      if (ready.ok() && *ready == ReadyState::kReady) return absl::OkStatus();
      if (ready.ok() && *ready == ReadyState::kPending) continue;
      if (ready.ok() &&
          (*ready == ReadyState::kReadyWithSchema || *ready == ReadyState::kReadyNative)) {
        *native = *ready == ReadyState::kReadyNative;
        absl::Status matches = CheckWorkerSchema(schema_check, deadline);
        if (matches.ok()) return matches;
        // Not a worker we can use: it must not run on.
        logger_.Log(LogLevel::kError, id(), std::string(matches.message()));
        process_->Signal(SIGKILL, /*group=*/true);
        process_->Wait(absl::InfiniteFuture());
        return matches;
      }
      if (!ready.ok()) {
        // Someone else answered on our channel: not our worker.
        process_->Signal(SIGKILL, /*group=*/true);
        process_->Wait(absl::InfiniteFuture());
        WorkerCrash crash;
        crash.set_cause(WorkerCrash::PROTOCOL_ERROR);
        crash.set_worker_id(id());
        crash.set_pid(process_->pid());
        return WithCrash(
            Prefixed(ready.status(), absl::StrCat("spawn worker ", id(), " (", executable_, ")")),
            crash);
      }
      // kClosed: it is dying or dead, see below.
    }
    if (fds[0].revents != 0 || fds[1].revents != 0) {
      // The worker closed its end or exited: it is dying or dead.
      std::optional<ExitStatus> status = process_->Wait(absl::Now() + absl::Seconds(5));
      if (!status) {
        process_->Signal(SIGKILL, /*group=*/true);
        status = process_->Wait(absl::InfiniteFuture());
      }
      std::string tail = StderrTail();
      WorkerCrash crash;
      SetExit(*status, &crash);
      crash.set_cause(WorkerCrash::SPAWN_FAILURE);
      crash.set_worker_id(id());
      crash.set_pid(process_->pid());
      crash.set_stderr_tail(PlainTail(stderr_ ? stderr_->Tail(absl::Now()) : ""));
      return WithCrash(absl::UnavailableError(absl::StrCat(
                           "spawn worker ", id(), " (", executable_,
                           "): exited before it was ready: ", status->ToString(), tail)),
                       crash);
    }
  }
  // Startup timeout: kill and reap it.
  bool alive = !process_->TryReap().has_value();
  process_->Signal(SIGKILL, /*group=*/true);
  process_->Wait(absl::InfiniteFuture());
  WorkerCrash crash;
  crash.set_cause(WorkerCrash::SPAWN_FAILURE);
  crash.set_worker_id(id());
  crash.set_pid(process_->pid());
  return WithCrash(
      absl::DeadlineExceededError(absl::StrCat(
          "spawn worker ", id(), " (", executable_, "): not ready within ",
          absl::FormatDuration(startup.timeout), " (startup timeout from ", startup.source, "); ",
          alive ? "it was still running and has been killed" : "it had exited")),
      crash);
}

std::string WorkerProcess::StderrTail() {
  std::string tail = stderr_ ? stderr_->Tail(absl::Now() + kStderrDrain) : "";
  if (tail.empty()) return "";
  return absl::StrCat("; last stderr lines:\n  ", absl::StrReplaceAll(tail, {{"\n", "\n  "}}));
}

void WorkerProcess::Monitor() {
  // The control socket too: a worker may ask to be recycled. Anything else
  // on it (the notice of a worker that replaces itself) is read at its exit.
  bool watch_control = true;
  while (true) {
    struct pollfd fds[3] = {{process_->pidfd(), POLLIN, 0},
                            {monitor_wake_.get(), POLLIN, 0},
                            {watch_control ? control_.get() : -1, POLLIN, 0}};
    int n = ::poll(fds, 3, -1);
    if (n < 0 && errno == EINTR) continue;
    if (fds[2].revents != 0 && fds[0].revents == 0) {
      char tag = 0;
      if ((fds[2].revents & POLLIN) &&
          ::recv(control_.get(), &tag, 1, MSG_PEEK | MSG_DONTWAIT) == 1 && tag == kRecycle) {
        ssize_t ignored = ::recv(control_.get(), &tag, 1, MSG_DONTWAIT);
        (void)ignored;
        std::function<void(const std::string&)> on_recycle;
        {
          absl::MutexLock lock(&mu_);
          on_recycle = on_recycle_;
        }
        if (on_recycle) {
          on_recycle("a handler asked for it (CallContext::RequestRecycle())");
        }
      } else {
        watch_control = false;  // EOF, or the worker's last words
      }
      continue;
    }
    // The death first: a close racing with a crash must not hide it.
    if (fds[0].revents == 0) {
      if (fds[1].revents != 0) return;
      continue;
    }
    process_->Wait(absl::Now() + absl::Seconds(1));
    std::function<void()> on_death;
    {
      absl::MutexLock lock(&mu_);
      if (!NoteExitLocked()) return;
      on_death = on_death_;
    }
    if (on_death) {
      on_death();  // the owner reports it
    } else {
      logger_.Log(LogLevel::kError, id(), DescribeDeath().ToString());
    }
    return;
  }
}

bool WorkerProcess::NoteExitLocked() {
  if (!exit_noted_) {
    exit_noted_ = true;
    crashed_ = !closing_ && kill_reason_.empty();
    ReadNoticeLocked();
  }
  return crashed_;
}

void WorkerProcess::ReadNoticeLocked() {
  if (!control_.valid()) return;
  // A worker that replaces itself (DEADLINE_REPLACE_WORKER) says why first.
  char buffer[64 + 1 + sizeof(uint16_t) + 60000];
  ssize_t received = ::recv(control_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
  // Recycle requests nobody read yet may come first.
  const char* message = buffer;
  while (received > 0 && static_cast<uint8_t>(*message) == kRecycle) {
    ++message;
    --received;
  }
  const ssize_t n = received;
  if (n < static_cast<ssize_t>(1 + sizeof(uint16_t)) ||
      static_cast<uint8_t>(message[0]) != kReplaced) {
    return;
  }
  uint16_t size;
  std::memcpy(&size, message + 1, sizeof(size));
  size =
      static_cast<uint16_t>(std::min<size_t>(size, static_cast<size_t>(n) - 1 - sizeof(uint16_t)));
  replaced_reason_.assign(message + 1 + sizeof(uint16_t), size);
}

int WorkerProcess::pid() const {
  if (process_ == nullptr || process_->exit_status().has_value()) return 0;
  return process_->pid();
}

bool WorkerProcess::crashed() const {
  absl::MutexLock lock(&mu_);
  return crashed_;
}

void WorkerProcess::SetDeathCallback(std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  on_death_ = std::move(callback);
}

void WorkerProcess::SetRecycleCallback(std::function<void(const std::string&)> callback) {
  absl::MutexLock lock(&mu_);
  on_recycle_ = std::move(callback);
}

std::optional<WorkerCrash> WorkerProcess::CrashDetails() {
  std::optional<ExitStatus> status = process_->exit_status();
  WorkerCrash crash;
  crash.set_worker_id(id());
  crash.set_pid(process_->pid());
  if (status) SetExit(*status, &crash);
  {
    absl::MutexLock lock(&mu_);
    if (!protocol_error_.empty()) {
      crash.set_cause(WorkerCrash::PROTOCOL_ERROR);
    } else if (!kill_reason_.empty()) {
      crash.set_cause(WorkerCrash::KILLED_BY_HOST);
    } else if (!replaced_reason_.empty()) {
      crash.set_cause(WorkerCrash::DEADLINE_REPLACEMENT);
    } else if (!status) {
      crash.set_cause(WorkerCrash::CONNECTION_LOST);
    }
  }
  if (crash.cause() != WorkerCrash::KILLED_BY_HOST && stderr_ != nullptr) {
    crash.set_stderr_tail(PlainTail(stderr_->Tail(absl::Now())));
  }
  return crash;
}

FailureDescription WorkerProcess::DescribeDeath() {
  std::optional<ExitStatus> status = process_->exit_status();
  std::string kill_reason;
  {
    absl::MutexLock lock(&mu_);
    kill_reason = kill_reason_;
  }
  if (!kill_reason.empty()) {
    return {absl::StrCat("worker ", id(), " was killed by the host: ", kill_reason), ""};
  }
  std::string replaced;
  std::string protocol_error;
  {
    absl::MutexLock lock(&mu_);
    replaced = replaced_reason_;
    protocol_error = protocol_error_;
  }
  if (!protocol_error.empty()) {
    return {
        absl::StrCat("worker ", id(), " broke the call protocol and was killed: ", protocol_error),
        StderrTail()};
  }
  if (!replaced.empty()) return {absl::StrCat("worker ", id(), " exited: ", replaced), ""};
  return {
      absl::StrCat("worker ", id(), " crashed: ", status ? status->ToString() : "still running"),
      StderrTail()};
}

absl::Status WorkerProcess::ExplainUnavailable(int method_index, const absl::Status& transport) {
  const std::string method = MethodDisplayName(service(), method_index);
  // The connection broke: give the process a moment to be reaped so that
  // the message can carry its exit status.
  std::optional<ExitStatus> status = process_->Wait(absl::Now() + absl::Milliseconds(200));
  if (!status) {
    WorkerCrash crash;
    crash.set_cause(WorkerCrash::CONNECTION_LOST);
    crash.set_worker_id(id());
    crash.set_pid(process_->pid());
    crash.set_method(method);
    return WithCrash(
        CallFailed(
            absl::StatusCode::kUnavailable, FailureCause::kConnectionLost, method,
            {absl::StrCat("connection to worker ", id(), " failed: ", transport.message()), ""}),
        crash);
  }
  bool closing;
  {
    absl::MutexLock lock(&mu_);
    // Whichever thread sees the exit first records it (the monitor may not
    // have woken up yet): the pool decides on retries from crashed().
    closing = !NoteExitLocked() && kill_reason_.empty();
  }
  if (closing) {
    return CallFailed(absl::StatusCode::kUnavailable, FailureCause::kWorkerClosed, method,
                      {absl::StrCat("worker ", id(), " was closed while the call was in flight (",
                                    status->ToString(), ")"),
                       ""});
  }
  absl::Status died = CallFailed(absl::StatusCode::kUnavailable, FailureCause::kWorkerDied, method,
                                 DescribeDeath());
  WorkerCrash crash = *CrashDetails();
  crash.set_method(method);
  return WithCrash(std::move(died), crash);
}

void WorkerProcess::OnProtocolViolation(const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    if (!protocol_error_.empty() || !kill_reason_.empty() || closing_) return;
    protocol_error_ = std::string(why.message());
  }
  logger_.Log(LogLevel::kError, id(),
              absl::StrCat("killing: it broke the call protocol: ", why.message()));
  process_->Signal(SIGKILL, /*group=*/true);
}

void WorkerProcess::Kill(const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (kill_reason_.empty()) kill_reason_ = reason;
  }
  logger_.Log(LogLevel::kWarning, id(), absl::StrCat("killing: ", reason));
  process_->Signal(SIGKILL, /*group=*/true);
}

std::optional<ExitStatus> WorkerProcess::DrainAndWait(absl::Time deadline) {
  // The worker's gRPC server finishes its shutdown only once our connection
  // is gone, so drop the channel as soon as no call needs it any more.
  if (WaitForCalls(deadline)) {
    DetachChannel();
    // Leave a moment to exit even when the calls used up the period.
    deadline = std::max(deadline, absl::Now() + absl::Milliseconds(100));
  }
  return process_->Wait(deadline);
}

absl::Status WorkerProcess::Close(const CloseOptions& options) {
  return close_.Run([&] { return CloseNow(options); });
}

absl::Status WorkerProcess::CloseNow(const CloseOptions& options) {
  bool was_crashed;
  {
    absl::MutexLock lock(&mu_);
    // A process that already exited on its own crashed, even if nobody
    // noticed yet.
    if (process_ != nullptr && process_->TryReap().has_value()) NoteExitLocked();
    closing_ = true;
    was_crashed = crashed_;
  }
  StopAccepting();
  absl::Status result = absl::OkStatus();
  if (process_ != nullptr && !process_->TryReap().has_value()) {
    // 1. Ask the worker to drain and exit within the grace period.
    const absl::Time grace_deadline = absl::Now() + options.grace;
    ShutdownRequest request;
    request.grace_ms =
        static_cast<uint32_t>(std::max<int64_t>(0, absl::ToInt64Milliseconds(options.grace)));
    ssize_t ignored = ::send(control_.get(), &request, sizeof(request), MSG_NOSIGNAL);
    (void)ignored;
    std::optional<ExitStatus> status = DrainAndWait(grace_deadline + kSelfExitAllowance);
    // 2. SIGTERM.
    if (!status) {
      logger_.Log(LogLevel::kWarning, id(),
                  absl::StrCat("did not exit within the grace period of ",
                               absl::FormatDuration(options.grace), "; sending SIGTERM"));
      process_->Signal(SIGTERM);
      status = DrainAndWait(absl::Now() + options.term_timeout);
    }
    // 3. SIGKILL.
    if (!status) {
      logger_.Log(LogLevel::kWarning, id(),
                  absl::StrCat("did not exit within ", absl::FormatDuration(options.term_timeout),
                               " of SIGTERM; sending SIGKILL"));
      process_->Signal(SIGKILL, /*group=*/true);
      process_->Wait(absl::InfiniteFuture());
      result = absl::DeadlineExceededError(
          absl::StrCat("close ", id(), ": the worker did not exit within its grace period (",
                       absl::FormatDuration(options.grace), ") nor after SIGTERM (",
                       absl::FormatDuration(options.term_timeout), "); killed with SIGKILL"));
    }
  } else if (was_crashed) {
    result = WithCrash(absl::UnavailableError(DescribeDeath().ToString()), *CrashDetails());
  }
  // The worker is gone, so every call still in flight fails promptly.
  if (!WaitForCalls(absl::Now() + absl::Seconds(10))) {
    logger_.Log(LogLevel::kError, id(), "calls still in flight 10s after the worker exited");
  }
  if (monitor_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = ::write(monitor_wake_.get(), &one, sizeof(one));
    (void)ignored;
    monitor_.join();
  }
  DetachChannel();
  absl::MutexLock lock(&mu_);
  control_.reset();
  logger_.Log(LogLevel::kDebug, id(), "closed");
  return result;
}

WorkerProcess::~WorkerProcess() {
  CloseOptions quick;
  quick.grace = absl::Seconds(1);
  quick.term_timeout = absl::Seconds(1);
  Close(quick).IgnoreError();
}

}  // namespace iw::internal
