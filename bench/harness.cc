#include "bench/harness.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

extern char** environ;

namespace iwbench {
namespace harness {
namespace {

bool g_verbose = false;
std::atomic<int> g_close_errors{0};
std::atomic<int> g_socket_counter{0};

}  // namespace

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "bench: %s\n", message.c_str());
  std::fflush(nullptr);
  // Leave no worker behind (grpc_baseline_server would outlive us: it only
  // listens): kill and reap every child this process started.
  for (int pid : ChildProcesses()) {
    ::kill(pid, SIGKILL);
    Reap(pid);
  }
  std::_Exit(1);
}

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  if (rank == 0) rank = 1;
  return v[std::min(rank, v.size()) - 1];
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

void Latch::CountDown() {
  absl::MutexLock lock(&mu_);
  --count_;
}

void Latch::Wait() {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return count_ <= 0; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(120))) {
    Die("timed out waiting for replies");
  }
}

double SelfCpuUs() {
  rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

double ProcessCpuUs(int pid) {
  clockid_t clock;
  timespec ts;
  if (::clock_getcpuclockid(pid, &clock) == 0 && ::clock_gettime(clock, &ts) == 0) {
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
  }
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) Die(absl::StrCat("cannot read /proc/", pid, "/stat"));
  std::vector<std::string> fields = absl::StrSplit(line.substr(paren + 2), ' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  double utime = std::stod(fields[11]), stime = std::stod(fields[12]);
  return (utime + stime) * 1e6 / ::sysconf(_SC_CLK_TCK);
}

void SetVerbose(bool verbose) { g_verbose = verbose; }

void Progress(const char* fmt, ...) {
  if (!g_verbose) return;
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
}

void CountCloseError() { g_close_errors.fetch_add(1); }
int CloseErrors() { return g_close_errors.load(); }

std::string NewSocketPath(const std::string& dir, const char* prefix) {
  return absl::StrCat(dir, "/", prefix, g_socket_counter.fetch_add(1), ".sock");
}

std::vector<int> ChildProcesses() {
  std::vector<int> children;
  const pid_t self = ::getpid();
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {  // not Die(): Die() calls this
    std::fprintf(stderr, "bench: opendir /proc: %s\n", ::strerror(errno));
    return children;
  }
  while (dirent* entry = ::readdir(proc)) {
    int pid;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string line;
    if (!std::getline(in, line)) continue;  // exited meanwhile
    size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    // After ") " come field 3 (state) and field 4 (ppid).
    std::vector<std::string> fields = absl::StrSplit(line.substr(paren + 2), ' ');
    int ppid;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid) && ppid == self) {
      children.push_back(pid);
    }
  }
  ::closedir(proc);
  return children;
}

pid_t Spawn(const std::vector<std::string>& args, int fd_to_3) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (fd_to_3 >= 0) posix_spawn_file_actions_adddup2(&actions, fd_to_3, 3);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  int err = ::posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) Die(absl::StrCat("posix_spawn ", args[0], ": ", ::strerror(err)));
  return pid;
}

void Reap(pid_t pid) {
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

bool PollIn(int fd, int timeout_ms) {
  pollfd p = {fd, POLLIN, 0};
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die(absl::StrCat("write: ", ::strerror(errno)));
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die(absl::StrCat("read: ", n == 0 ? "EOF" : ::strerror(errno)));
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace harness
}  // namespace iwbench
