#include "runtime/process/fork_server_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/process/child_process.h"
#include "runtime/process/child_rlimits.h"
#include "runtime/process/fork_server_protocol.h"

namespace iw::internal {
namespace {

int g_sigchld_write = -1;
// A forked child's environment strings (putenv() keeps pointers into them).
std::vector<std::string>* g_child_env = nullptr;

void OnSigchld(int /*signal*/) {
  int saved = errno;
  char byte = 1;
  ssize_t ignored = ::write(g_sigchld_write, &byte, 1);
  (void)ignored;
  errno = saved;
}

// Whether `threads` running threads allow a fork server. ThreadSanitizer
// may run a background thread of its own (its fork() interceptor makes the
// fork safe with it), so under it one more is allowed.
bool SingleThreaded(int threads) {
  if (threads == 1) return true;
#if defined(__SANITIZE_THREAD__)
  return threads == 2;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return threads == 2;
#endif
#endif
  return false;
}

int CountThreads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (rest.substr(0, 8) != "Threads:") continue;
    rest.remove_prefix(8);
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    int count = 0;
    if (absl::SimpleAtoi(rest, &count)) return count;
  }
  return -1;
}

[[noreturn]] void Refuse(int socket, const std::string& why) {
  ForkHello hello;
  hello.refused = 1;
  std::snprintf(hello.reason, sizeof(hello.reason), "%s", why.c_str());
  (void)SendForkMessage(socket, &hello, sizeof(hello));
  ::_exit(0);
}

// In the child, right after fork(): becomes the process `header` asks for.
// Single-threaded (fork copied only us), so anything goes, but a failure can
// only be told on the child's stderr (already the host's pipe) and by its
// exit code: the host then reports "exited before it was ready".
void BecomeChild(int socket, int sigchld_read, const ForkRequestHeader& header,
                 std::vector<UniqueFd>& fds, std::vector<std::string>& env) {
  struct sigaction dfl;
  ::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGCHLD, &dfl, nullptr);
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  ::close(socket);
  ::close(sigchld_read);
  ::close(g_sigchld_write);
  g_sigchld_write = -1;
  auto fail = [](const char* what) {
    std::fprintf(stderr, "fork server child: %s: %s\n", what, ::strerror(errno));
    std::fflush(stderr);
    ::_exit(127);
  };
  if (header.new_process_group && ::setpgid(0, 0) != 0) fail("setpgid");

  // Move the received descriptors above every target first, so that dup2
  // onto a target never clobbers one still to be moved.
  int max_target = 2;
  for (int i = 0; i < header.fd_count; ++i) max_target = std::max(max_target, header.targets[i]);
  std::vector<int> moved;
  for (UniqueFd& fd : fds) {
    int high = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, max_target + 1);
    if (high < 0) fail("dup descriptor");
    moved.push_back(high);
    fd.reset();
  }
  if (header.stdout_index >= 0 && ::dup2(moved[header.stdout_index], 1) < 0) fail("dup2 stdout");
  if (header.stderr_index >= 0 && ::dup2(moved[header.stderr_index], 2) < 0) fail("dup2 stderr");
  for (int i = 0; i < header.fd_count; ++i) {
    // dup2 clears FD_CLOEXEC on the target, as exec would have kept it.
    if (header.targets[i] >= 0 && ::dup2(moved[i], header.targets[i]) < 0) {
      fail("dup2 descriptor");
    }
  }
  for (int fd : moved) ::close(fd);

  // The environment, exactly as asked (what the process read before the
  // fork server started, it read from the same variables, minus the
  // per-child ones the host sets here).
  ::clearenv();
  for (std::string& var : env) {
    // putenv() keeps the pointer: the strings live as long as the process
    // (this function's caller never returns to the loop).
    if (::putenv(var.data()) != 0) fail("putenv");
  }

  ResourceLimits limits;
  if (header.address_space_bytes >= 0) limits.address_space_bytes = header.address_space_bytes;
  if (header.cpu_time_ms >= 0) limits.cpu_time = absl::Milliseconds(header.cpu_time_ms);
  if (header.open_files >= 0) limits.open_files = header.open_files;
  limits.allow_core_dumps = header.allow_core_dumps != 0;
  if (!ApplyRlimits(ComputeRlimits(limits))) fail("setrlimit");
}

void ReportExits(int socket) {
  int wait_status;
  pid_t pid;
  while ((pid = ::waitpid(-1, &wait_status, WNOHANG)) > 0) {
    ForkChildExit exit;
    exit.pid = pid;
    exit.wait_status = wait_status;
    if (!SendForkMessage(socket, &exit, sizeof(exit)).ok()) ::_exit(0);  // host gone
  }
}

// Parses a request; false if it is malformed (a host of the same version
// never sends one: the server then ends).
bool ParseRequest(const ForkMessage& message, ForkRequestHeader* header,
                  std::vector<std::string>* env) {
  if (message.bytes.size() < sizeof(ForkRequestHeader)) return false;
  ::memcpy(header, message.bytes.data(), sizeof(*header));
  if (header->tag != kForkRequest || header->fd_count < 0 || header->fd_count > kForkMaxFds ||
      static_cast<size_t>(header->fd_count) != message.fds.size() ||
      header->stdout_index >= header->fd_count || header->stderr_index >= header->fd_count) {
    return false;
  }
  for (int i = 0; i < header->fd_count; ++i) {
    if (header->targets[i] < 3 && header->targets[i] != -1) return false;
  }
  absl::string_view rest(message.bytes);
  rest.remove_prefix(sizeof(ForkRequestHeader));
  for (uint32_t i = 0; i < header->env_count; ++i) {
    size_t end = rest.find('\0');
    if (end == absl::string_view::npos) return false;
    env->emplace_back(rest.substr(0, end));
    rest.remove_prefix(end + 1);
  }
  return true;
}

}  // namespace

void ServeForkRequestsIfAsked(const std::function<void()>& prepare) {
  const char* value = std::getenv(kForkServerFdEnv);
  if (value == nullptr) return;
  int socket = -1;
  if (!absl::SimpleAtoi(value, &socket) || socket < 3) {
    std::fprintf(stderr, "%s=%s is not a descriptor number\n", kForkServerFdEnv, value);
    ::_exit(2);
  }
  ::unsetenv(kForkServerFdEnv);
  ::fcntl(socket, F_SETFD, FD_CLOEXEC);

  const int threads = CountThreads();
  if (!SingleThreaded(threads)) {
    Refuse(socket, absl::StrCat(threads,
                                " threads were running when the worker reached "
                                "RunWorker() (a fork server must be single-threaded: "
                                "fork() copies only the calling thread)"));
  }
  if (prepare) prepare();
  if (CountThreads() != threads) Refuse(socket, "the warm-up started a thread");

  int sigchld_pipe[2];
  if (::pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    Refuse(socket, absl::StrCat("pipe2: ", ::strerror(errno)));
  }
  g_sigchld_write = sigchld_pipe[1];
  struct sigaction action;
  ::memset(&action, 0, sizeof(action));
  action.sa_handler = OnSigchld;
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  ::sigaction(SIGCHLD, &action, nullptr);

  ForkHello hello;
  if (!SendForkMessage(socket, &hello, sizeof(hello)).ok()) ::_exit(0);

  while (true) {
    struct pollfd fds[2] = {{socket, POLLIN, 0}, {sigchld_pipe[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      ::_exit(1);
    }
    if (fds[1].revents != 0) {
      char drain[64];
      while (::read(sigchld_pipe[0], drain, sizeof(drain)) > 0) {
      }
      ReportExits(socket);
    }
    if (fds[0].revents == 0) continue;
    absl::StatusOr<ForkMessage> message = ReceiveForkMessage(socket);
    // The host closed the connection, went away or broke the protocol:
    // nothing more to serve. Children live on (each has its own lifeline to
    // the host); they are reparented and reaped by init.
    if (!message.ok() || message->bytes.empty()) ::_exit(0);
    ForkRequestHeader header;
    std::vector<std::string> env;
    if (!ParseRequest(*message, &header, &env)) ::_exit(1);

    ForkReply reply;
    reply.sequence = header.sequence;
    const pid_t pid = ::fork();
    if (pid == 0) {
      // The strings putenv() points into must outlive this frame: moved
      // before use (a move would relocate short strings), and kept
      // reachable from a global (not a leak to LeakSanitizer).
      g_child_env = new std::vector<std::string>(std::move(env));
      BecomeChild(socket, sigchld_pipe[0], header, message->fds, *g_child_env);
      return;
    }
    message->fds.clear();  // our copies: the child has its own
    UniqueFd pidfd;
    if (pid < 0) {
      reply.error = errno;
    } else {
      reply.pid = pid;
      pidfd.reset(PidfdOpen(pid));
      if (!pidfd.valid()) {
        reply.error = errno;
        ::kill(pid, SIGKILL);  // reaped and reported like any child
      }
    }
    std::vector<int> sent;
    if (pidfd.valid()) sent.push_back(pidfd.get());
    if (!SendForkMessage(socket, &reply, sizeof(reply), sent).ok()) ::_exit(0);
  }
}

}  // namespace iw::internal
