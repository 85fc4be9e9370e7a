#include "runtime/process/fork_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/logging.h"
#include "runtime/process/fork_server_protocol.h"

namespace iw::internal {
namespace {

// How long the destructor waits for a server to exit by itself once its
// connection is closed, before SIGKILL.
constexpr absl::Duration kServerExitWait = absl::Seconds(1);
// How long a child known to be dead (its pidfd is readable) may wait for its
// server's report of its exit status (the server must be scheduled, reap it
// and write; milliseconds, unless the machine is overloaded).
constexpr absl::Duration kExitReportGrace = absl::Seconds(2);

bool Readable(int fd, int timeout_ms) {
  struct pollfd pfd = {fd, POLLIN, 0};
  int n;
  do {
    n = ::poll(&pfd, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

}  // namespace

// A child of the server: exits are seen on its pidfd, its status comes from
// the server's report.
class ForkServer::Child final : public ChildProcess {
 public:
  Child(std::shared_ptr<ForkServer> server, pid_t pid, UniqueFd pidfd, const ResourceLimits& limits)
      : server_(std::move(server)), pid_(pid), pidfd_(std::move(pidfd)), limits_(limits) {}

  ~Child() override {
    if (!TryReap().has_value()) {
      Signal(SIGKILL, /*group=*/true);
      // The pidfd is readable at once after SIGKILL; the report follows
      // within the server's next loop (bounded anyway: a stopped server must
      // not hang us).
      Wait(absl::Now() + absl::Seconds(5));
    }
    absl::MutexLock lock(&server_->mu_);
    server_->exits_.erase(pid_);
  }

  pid_t pid() const override { return pid_; }
  int pidfd() const override { return pidfd_.get(); }

  void Signal(int signal, bool group) override {
    absl::MutexLock lock(&mu_);
    if (status_.has_value()) return;
    // Not reported as reaped, so the process group cannot have been
    // recycled (the server reports right after reaping; a group kill in
    // that microsecond window is the one residual race, as with any
    // supervisor that is not the parent).
    SignalUnreaped(pid_, pidfd_.get(), signal, group);
  }

  std::optional<ExitStatus> TryReap() override {
    absl::MutexLock lock(&mu_);
    if (status_.has_value()) return status_;
    bool server_dead = false;
    {
      absl::MutexLock server_lock(&server_->mu_);
      auto it = server_->exits_.find(pid_);
      if (it != server_->exits_.end()) {
        status_ = ExitStatus::FromWaitStatus(it->second);
      }
      server_dead = server_->dead_;
    }
    if (!status_.has_value() && server_dead && Readable(pidfd_.get(), 0)) {
      ExitStatus unknown;
      unknown.unknown = true;
      status_ = unknown;
    }
    if (status_.has_value()) status_->limits = limits_;
    return status_;
  }

  std::optional<ExitStatus> Wait(absl::Time deadline) override {
    while (true) {
      if (auto status = TryReap()) return status;
      if (absl::Now() >= deadline) return std::nullopt;
      if (!Readable(pidfd_.get(), PollTimeoutMs(deadline))) continue;
      // Exited: its status is on its way from the server, which must first
      // be scheduled to reap it. A caller that waits at all gets it, even
      // past its deadline (by at most kExitReportGrace): "still running"
      // about a process known to be dead would lose the crash's cause.
      const absl::Time report_deadline = std::max(deadline, absl::Now() + kExitReportGrace);
      {
        absl::MutexLock lock(&server_->mu_);
        auto known = [this]() ABSL_SHARED_LOCKS_REQUIRED(server_->mu_) {
          return server_->dead_ || server_->exits_.count(pid_) > 0;
        };
        server_->mu_.AwaitWithDeadline(absl::Condition(&known), report_deadline);
      }
      if (auto status = TryReap()) return status;
      if (absl::Now() >= report_deadline) return std::nullopt;
    }
  }

  std::optional<ExitStatus> exit_status() const override {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  const std::shared_ptr<ForkServer> server_;
  const pid_t pid_;
  const UniqueFd pidfd_;
  const ResourceLimits limits_;
  mutable absl::Mutex mu_;
  std::optional<ExitStatus> status_ ABSL_GUARDED_BY(mu_);
};

ForkServer::ForkServer(std::unique_ptr<Subprocess> process, UniqueFd socket)
    : process_(std::move(process)), socket_(std::move(socket)) {}

absl::StatusOr<std::shared_ptr<ForkServer>> ForkServer::Start(SpawnSpec spec,
                                                              const std::vector<int>& reserved_fds,
                                                              absl::Time deadline) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::ErrnoToStatus(errno, "fork server: socketpair()");
  }
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  UniqueFd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null.valid()) return absl::ErrnoToStatus(errno, "fork server: open /dev/null");
  int server_fd = 3;
  for (int reserved : reserved_fds) {
    spec.fds.emplace_back(dev_null.get(), reserved);
    server_fd = std::max(server_fd, reserved + 1);
  }
  spec.fds.emplace_back(theirs.get(), server_fd);
  spec.env.push_back(absl::StrCat(kForkServerFdEnv, "=", server_fd));

  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  if (!process.ok()) return process.status();
  theirs.reset();
  std::unique_ptr<Subprocess> server = std::move(*process);
  auto give_up = [&server]() {
    server->Signal(SIGKILL, /*group=*/true);
    server->Wait(absl::InfiniteFuture());
  };
  const std::string what = absl::StrCat("fork server ", spec.executable);
  while (true) {
    struct pollfd fds[2] = {{ours.get(), POLLIN, 0}, {server->pidfd(), POLLIN, 0}};
    int n = ::poll(fds, 2, PollTimeoutMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      give_up();
      return absl::DeadlineExceededError(absl::StrCat(what, ": no hello before the deadline"));
    }
    if (fds[0].revents & POLLIN) break;
    if (fds[0].revents != 0 || fds[1].revents != 0) {
      std::optional<ExitStatus> status = server->Wait(absl::Now() + absl::Seconds(1));
      if (!status) give_up();
      return absl::UnavailableError(absl::StrCat(
          what, ": exited without serving (", status ? status->ToString() : std::string("killed"),
          "); a worker built without fork-server support exits with its usage message"));
    }
  }
  absl::StatusOr<ForkMessage> hello_message = ReceiveForkMessage(ours.get());
  ForkHello hello;
  if (!hello_message.ok() || hello_message->bytes.size() != sizeof(hello)) {
    give_up();
    return absl::UnavailableError(absl::StrCat(what, ": no valid hello"));
  }
  ::memcpy(&hello, hello_message->bytes.data(), sizeof(hello));
  if (hello.tag != kForkHello || hello.version != kForkServerVersion) {
    give_up();
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": speaks fork-server protocol version ", hello.version, ", we speak ",
                     kForkServerVersion));
  }
  if (hello.refused != 0) {
    hello.reason[sizeof(hello.reason) - 1] = '\0';
    server->Wait(absl::Now() + kServerExitWait);  // it exits right after
    if (!server->TryReap()) give_up();
    return absl::FailedPreconditionError(absl::StrCat(what, " refused to serve: ", hello.reason));
  }
  std::shared_ptr<ForkServer> started(new ForkServer(std::move(server), std::move(ours)));
  started->reader_ = std::thread([raw = started.get()] { raw->ReadLoop(); });
  return started;
}

ForkServer::~ForkServer() {
  // The server exits when it sees the end of the connection; our reader
  // sees it too.
  ::shutdown(socket_.get(), SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  if (!process_->Wait(absl::Now() + kServerExitWait)) {
    process_->Signal(SIGKILL, /*group=*/true);
    process_->Wait(absl::InfiniteFuture());
  }
}

bool ForkServer::alive() const {
  absl::MutexLock lock(&mu_);
  return !dead_;
}

void ForkServer::ReadLoop() {
  while (true) {
    absl::StatusOr<ForkMessage> message = ReceiveForkMessage(socket_.get());
    uint32_t tag = 0;
    if (message.ok() && message->bytes.size() >= sizeof(tag)) {
      ::memcpy(&tag, message->bytes.data(), sizeof(tag));
    }
    absl::MutexLock lock(&mu_);
    if (tag == kForkReply && message->bytes.size() == sizeof(ForkReply)) {
      ForkReply reply;
      ::memcpy(&reply, message->bytes.data(), sizeof(reply));
      UniqueFd pidfd = message->fds.empty() ? UniqueFd() : std::move(message->fds.front());
      replies_[reply.sequence] = {reply.error != 0 ? -reply.error : reply.pid, std::move(pidfd)};
      continue;
    }
    if (tag == kForkChildExit && message->bytes.size() == sizeof(ForkChildExit)) {
      ForkChildExit exit;
      ::memcpy(&exit, message->bytes.data(), sizeof(exit));
      exits_[exit.pid] = exit.wait_status;
      continue;
    }
    // The end of the connection (the server died or we shut it down), or a
    // message we do not understand: either way the server is unusable.
    dead_ = true;
    return;
  }
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ForkServer::Fork(const ForkRequest& request,
                                                               absl::Time deadline) {
  ForkRequestHeader header;
  std::vector<int> fds;
  for (const auto& [fd, target] : request.fds) {
    header.targets[fds.size()] = target;
    fds.push_back(fd);
    if (fds.size() > static_cast<size_t>(kForkMaxFds - 2)) {
      return absl::InvalidArgumentError("fork server: too many descriptors to pass");
    }
  }
  if (request.stdout_fd >= 0) {
    header.stdout_index = static_cast<int32_t>(fds.size());
    header.targets[fds.size()] = -1;
    fds.push_back(request.stdout_fd);
  }
  if (request.stderr_fd >= 0) {
    header.stderr_index = static_cast<int32_t>(fds.size());
    header.targets[fds.size()] = -1;
    fds.push_back(request.stderr_fd);
  }
  header.fd_count = static_cast<int32_t>(fds.size());
  header.new_process_group = request.new_process_group ? 1 : 0;
  const ResourceLimits& limits = request.limits;
  if (limits.address_space_bytes) header.address_space_bytes = *limits.address_space_bytes;
  if (limits.cpu_time) header.cpu_time_ms = absl::ToInt64Milliseconds(*limits.cpu_time);
  if (limits.open_files) header.open_files = *limits.open_files;
  header.allow_core_dumps = limits.allow_core_dumps ? 1 : 0;
  header.env_count = static_cast<uint32_t>(request.env.size());
  std::string message(reinterpret_cast<const char*>(&header), sizeof(header));
  for (const std::string& var : request.env) {
    message.append(var);
    message.push_back('\0');
  }
  if (message.size() > kForkMaxMessage) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fork server: the environment is too large to send (", message.size(), " bytes)"));
  }

  absl::MutexLock fork_lock(&fork_mu_);
  const uint32_t sequence = ++next_sequence_;
  ::memcpy(message.data() + offsetof(ForkRequestHeader, sequence), &sequence, sizeof(sequence));
  {
    absl::MutexLock lock(&mu_);
    // Replies to requests whose Fork() gave up (deadline): their children
    // must not run unsupervised.
    for (auto& [stale, reply] : replies_) {
      if (reply.second.valid()) PidfdSendSignal(reply.second.get(), SIGKILL);
    }
    replies_.clear();
    if (dead_) return absl::UnavailableError("fork server: it has ended");
  }
  if (absl::Status sent = SendForkMessage(socket_.get(), message.data(), message.size(), fds);
      !sent.ok()) {
    // EPIPE / ECONNRESET: the server is gone even if our reader has not
    // seen the end of the connection yet.
    absl::MutexLock lock(&mu_);
    dead_ = true;
    return absl::UnavailableError(absl::StrCat("fork server: it has ended (", sent.message(), ")"));
  }
  absl::MutexLock lock(&mu_);
  auto answered = [this, sequence]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return dead_ || replies_.count(sequence) > 0;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&answered), deadline)) {
    return absl::DeadlineExceededError("fork server: no reply before the deadline");
  }
  auto it = replies_.find(sequence);
  if (it == replies_.end()) return absl::UnavailableError("fork server: it ended");
  const int pid_or_error = it->second.first;
  UniqueFd pidfd = std::move(it->second.second);
  replies_.erase(it);
  if (pid_or_error < 0) return absl::ErrnoToStatus(-pid_or_error, "fork server: fork()");
  if (!pidfd.valid()) return absl::InternalError("fork server: a reply without the child's pidfd");
  return std::unique_ptr<ChildProcess>(
      new Child(shared_from_this(), pid_or_error, std::move(pidfd), request.limits));
}

// -----------------------------------------------------------------------------
// The servers of this process
// -----------------------------------------------------------------------------

namespace {

class ForkServers {
 public:
  static ForkServers& Get() {
    // Never destroyed: servers end when this process does (their connection
    // closes), and no static destructor may race a spawn.
    static ForkServers* const servers = new ForkServers();
    return *servers;
  }

  absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const SpawnSpec& spec,
                                                      const std::vector<std::string>& per_child,
                                                      absl::Time deadline);
  int CloseIdle(absl::Time idle_since);

 private:
  // The live server for `key`, started (or restarted after a death) as
  // needed; nullptr if none can be used (exec instead).
  std::shared_ptr<ForkServer> Acquire(const std::string& key, const SpawnSpec& spec,
                                      const SpawnSpec& server_spec,
                                      const std::vector<int>& reserved, absl::Time deadline);

  struct Entry {
    std::shared_ptr<ForkServer> server;
    // Set once no server can be used for this configuration: exec instead.
    bool unusable = false;
    int deaths = 0;
    absl::Time last_used;
  };

  void Janitor();

  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  bool janitor_running_ ABSL_GUARDED_BY(mu_) = false;
};

// A server that died this many times is not restarted for its configuration.
constexpr int kMaxServerDeaths = 3;

bool IsPerChild(const std::string& var, const std::vector<std::string>& per_child) {
  for (const std::string& name : per_child) {
    if (var.size() > name.size() && var.compare(0, name.size(), name) == 0 &&
        var[name.size()] == '=') {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ForkServers::Start(
    const SpawnSpec& spec, const std::vector<std::string>& per_child, absl::Time deadline) {
  // The server's own configuration: everything exec-time. The file's
  // identity too: a rebuilt binary gets a new server.
  SpawnSpec server_spec = spec;
  server_spec.fds.clear();
  server_spec.stdout_fd = -1;
  server_spec.stderr_fd = -1;
  server_spec.limits = ResourceLimits();
  server_spec.limits.allow_core_dumps = spec.limits.allow_core_dumps;
  server_spec.env.clear();
  for (const std::string& var : spec.env) {
    if (!IsPerChild(var, per_child)) server_spec.env.push_back(var);
  }
  std::vector<int> reserved;
  for (const auto& [fd, target] : spec.fds) reserved.push_back(target);
  std::sort(reserved.begin(), reserved.end());
  struct stat st;
  if (::stat(spec.executable.c_str(), &st) != 0) return Subprocess::Start(spec);
  const std::string key = absl::StrCat(
      spec.executable, "\n", st.st_dev, ":", st.st_ino, ":", st.st_mtim.tv_sec, ".",
      st.st_mtim.tv_nsec, "\n", absl::StrJoin(spec.argv, "\x1f"), "\n",
      absl::StrJoin(server_spec.env, "\x1f"), "\n", spec.working_directory, "\n",
      absl::StrJoin(reserved, ","), "\n", spec.new_process_group, spec.limits.allow_core_dumps);

  // Twice at most: a server that turns out dead at the fork (killed since
  // its last use, before our reader saw it) is replaced once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<ForkServer> server = Acquire(key, spec, server_spec, reserved, deadline);
    if (server == nullptr) break;
    ForkRequest request;
    request.env = spec.env;
    request.fds = spec.fds;
    request.stdout_fd = spec.stdout_fd;
    request.stderr_fd = spec.stderr_fd;
    request.new_process_group = spec.new_process_group;
    request.limits = spec.limits;
    absl::StatusOr<std::unique_ptr<ChildProcess>> child = server->Fork(request, deadline);
    if (child.ok()) return child;
    if (server->alive()) break;  // fork() failed there: exec tells why
  }
  return Subprocess::Start(spec);
}

std::shared_ptr<ForkServer> ForkServers::Acquire(const std::string& key, const SpawnSpec& spec,
                                                 const SpawnSpec& server_spec,
                                                 const std::vector<int>& reserved,
                                                 absl::Time deadline) {
  std::shared_ptr<ForkServer> server;
  std::shared_ptr<ForkServer> dead;
  {
    absl::MutexLock lock(&mu_);
    Entry& entry = entries_[key];
    if (entry.unusable) return nullptr;
    if (entry.server != nullptr && !entry.server->alive()) {
      dead = std::move(entry.server);
      entry.server = nullptr;
      if (++entry.deaths >= kMaxServerDeaths) entry.unusable = true;
      Log(LogLevel::kWarning, "fork server",
          absl::StrCat("the fork server of ", spec.executable, " (pid ", dead->pid(), ") ended; ",
                       entry.unusable ? absl::StrCat("it died ", entry.deaths,
                                                     " times: starting its workers with exec")
                                      : "starting a new one"));
    }
    if (!entry.unusable && entry.server == nullptr) {
      absl::StatusOr<std::shared_ptr<ForkServer>> started =
          ForkServer::Start(server_spec, reserved, deadline);
      if (started.ok()) {
        entry.server = std::move(*started);
      } else {
        // Exec from now on; exec reports exec errors (a missing file...)
        // itself, precisely.
        entry.unusable = true;
        Log(LogLevel::kWarning, "fork server",
            absl::StrCat("cannot use a fork server for ", spec.executable, " (",
                         started.status().message(), "); starting its workers with exec"));
      }
    }
    if (entry.server != nullptr) {
      server = entry.server;
      entry.last_used = absl::Now();
      if (!janitor_running_) {
        janitor_running_ = true;
        std::thread([this] { Janitor(); }).detach();
      }
    }
  }
  dead.reset();  // reaped outside the lock
  return server;
}

int ForkServers::CloseIdle(absl::Time idle_since) {
  std::vector<std::shared_ptr<ForkServer>> closing;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& entry = it->second;
      if (entry.server != nullptr && entry.server.use_count() == 1 &&
          (entry.last_used <= idle_since || !entry.server->alive())) {
        closing.push_back(std::move(entry.server));
        entry.server = nullptr;
      }
      if (entry.server == nullptr && !entry.unusable && entry.deaths == 0) {
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  return static_cast<int>(closing.size());  // destroyed (closed, reaped) here
}

void ForkServers::Janitor() {
  while (true) {
    absl::SleepFor(absl::Seconds(1));
    CloseIdle(absl::Now() - kForkServerLinger);
    absl::MutexLock lock(&mu_);
    bool any = false;
    for (const auto& [key, entry] : entries_) any |= entry.server != nullptr;
    if (!any) {
      janitor_running_ = false;
      return;
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> StartChildProcess(
    const SpawnSpec& spec, const std::vector<std::string>& per_child_env, bool use_fork_server,
    absl::Time deadline) {
  if (!use_fork_server) return Subprocess::Start(spec);
  return ForkServers::Get().Start(spec, per_child_env, deadline);
}

int CloseIdleForkServers() { return ForkServers::Get().CloseIdle(absl::InfiniteFuture()); }

}  // namespace iw::internal
