// StartMode::kForkServer through real processes: who forks the workers, what
// each one gets, and what happens when the fork server dies, refuses, or its
// executable changes. (Every e2e and hardening suite also runs with a fork
// server: the `_fork_server` variants of iw_carrier_test.)
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/logging.h"
#include "runtime/process/fork_server.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::ProcessAlive;
using iw::testing::RunfilePath;
using iw::testing::SpawnOrDie;
using iw::testing::StatusIs;

// Field `index` (0-based, after the command name) of /proc/<pid>/stat:
// 0 state, 1 ppid, 2 pgrp.
int StatField(int pid, int index) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return -1;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ');
  int value = -1;
  if (static_cast<int>(fields.size()) <= index || !absl::SimpleAtoi(fields[index], &value)) {
    return -1;
  }
  return value;
}
int ParentOf(int pid) { return StatField(pid, 1); }
int ProcessGroupOf(int pid) { return StatField(pid, 2); }

// What /proc/<pid>/fd/<fd> points to, for every open descriptor.
std::set<std::string> OpenFileTargets(int pid) {
  std::set<std::string> targets;
  for (int fd = 0; fd < 1024; ++fd) {
    char target[256];
    const std::string link = absl::StrCat("/proc/", pid, "/fd/", fd);
    ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    if (n > 0) targets.insert(std::string(target, static_cast<size_t>(n)));
  }
  return targets;
}

iw::WorkerOptions ForkServerOptions(const std::string& executable = "") {
  iw::WorkerOptions options = iw::testing::TestWorkerOptions();
  options.transport = iw::WorkerTransport::kNative;
  options.start_mode = iw::StartMode::kForkServer;
  if (!executable.empty()) options.executable = executable;
  return options;
}

std::string EnvOf(iwtest::TestServiceHost& host, const std::string& name) {
  iwtest::GetEnvRequest request;
  request.set_name(name);
  absl::StatusOr<iwtest::GetEnvReply> reply = host.GetEnv(request);
  REQUIRE_THAT(reply.status(), IsOk());
  return reply->set() ? reply->value() : "<unset>";
}

// Collects log records at kInfo and above while alive.
class LogCapture {
 public:
  LogCapture() {
    iw::SetLogSink(
        [this](const iw::LogRecord& record) {
          absl::MutexLock lock(&mu_);
          records_.push_back(record);
        },
        iw::LogLevel::kInfo);
  }
  ~LogCapture() { iw::SetLogSink(nullptr); }
  bool Contains(iw::LogLevel level, const std::string& text) {
    absl::MutexLock lock(&mu_);
    for (const iw::LogRecord& record : records_) {
      if (record.level == level && absl::StrContains(record.message, text)) return true;
    }
    return false;
  }
  bool ContainsAtAnyLevel(const std::string& text) {
    absl::MutexLock lock(&mu_);
    for (const iw::LogRecord& record : records_) {
      if (absl::StrContains(record.message, text)) return true;
    }
    return false;
  }

 private:
  absl::Mutex mu_;
  std::vector<iw::LogRecord> records_;
};

TEST_CASE(
    "Fork server: workers are forked by one fork server per executable, not exec'd by "
    "the host, each with its own environment",
    "[e2e][fork_server]") {
  {
    iw::WorkerOptions options = ForkServerOptions();
    options.env["IW_TEST_MARK"] = "marked";
    auto first = SpawnOrDie(options);
    auto second = SpawnOrDie(options);
    const int server = ParentOf(first->pid());
    CHECK(server != ::getpid());
    CHECK(ParentOf(server) == ::getpid());
    CHECK(ParentOf(second->pid()) == server);
    CHECK(first->pid() != second->pid());
    for (auto* host : {first.get(), second.get()}) {
      CHECK(EnvOf(*host, "IW_TEST_MARK") == "marked");
      CHECK(EnvOf(*host, "IW_FORK_SERVER_FD") == "<unset>");
      CHECK(EnvOf(*host, "IW_CONTROL_FD") == "4");
    }
    // The per-worker variables differ.
    CHECK(EnvOf(*first, "IW_WORKER_ID") != EnvOf(*second, "IW_WORKER_ID"));
    // Another environment is another exec-time configuration: another server.
    options.env["IW_TEST_MARK"] = "other";
    auto third = SpawnOrDie(options);
    CHECK(ParentOf(third->pid()) != server);
    CHECK(EnvOf(*third, "IW_TEST_MARK") == "other");
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Fork server: a forked worker has its own process group, resource limits and "
    "descriptors, and not the fork server's connection",
    "[e2e][fork_server]") {
  {
    iw::WorkerOptions options = ForkServerOptions();
    options.limits.open_files = 200;
    auto host = SpawnOrDie(options);
    const int pid = host->pid();
    const int server = ParentOf(pid);
    REQUIRE(server != ::getpid());
    CHECK(ProcessGroupOf(pid) == pid);
    std::ifstream limits(absl::StrCat("/proc/", pid, "/limits"));
    std::string text((std::istreambuf_iterator<char>(limits)), std::istreambuf_iterator<char>());
    CHECK_THAT(text, Catch::Matches("(.|\\n)*Max open files +200 +200 (.|\\n)*"));
    // The server's connection to us is a socket only it may hold.
    const std::set<std::string> worker_files = OpenFileTargets(pid);
    for (const std::string& target : OpenFileTargets(server)) {
      if (!absl::StartsWith(target, "socket:")) continue;
      INFO("the fork server's " << target);
      CHECK(worker_files.count(target) == 0);
    }
    // And it serves, limits and all.
    iwtest::OpenFilesRequest open;
    open.set_count(10);
    CHECK_THAT(host->OpenFiles(open).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Fork server: when it dies, its workers keep serving, the next spawn starts a new "
    "one, and a later crash of an orphaned worker is still reported",
    "[e2e][fork_server]") {
  {
    LogCapture logs;
    auto host = SpawnOrDie(ForkServerOptions());
    const int server = ParentOf(host->pid());
    REQUIRE(server != ::getpid());
    REQUIRE(::kill(server, SIGKILL) == 0);
    // Still serving: the worker's lifeline is its host, not the server.
    for (int i = 0; i < 3; ++i) CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
    auto next = SpawnOrDie(ForkServerOptions());
    const int new_server = ParentOf(next->pid());
    CHECK(new_server != server);
    CHECK(new_server != ::getpid());
    CHECK(logs.Contains(iw::LogLevel::kWarning, "ended; starting a new one"));
    // The orphan's exit status died with its server: the crash is reported
    // as such.
    iwtest::CrashRequest crash;
    crash.set_exit_code(7);
    absl::Status status = host->Crash(crash).status();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "exit status unknown"));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Fork server: an executable that starts a thread before RunWorker() is started with "
    "exec, and the log says why",
    "[e2e][fork_server]") {
  {
    LogCapture logs;
    auto host = SpawnOrDie(ForkServerOptions(RunfilePath("tests/workers/threaded_main_worker")));
    CHECK(ParentOf(host->pid()) == ::getpid());
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
    CHECK(logs.Contains(iw::LogLevel::kWarning, "threads were running"));
    // Decided once: the next worker is exec'd at once, without a new try.
    auto again = SpawnOrDie(ForkServerOptions(RunfilePath("tests/workers/threaded_main_worker")));
    CHECK(ParentOf(again->pid()) == ::getpid());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Fork server: a rebuilt executable gets a new fork server", "[e2e][fork_server]") {
  const std::string copy = absl::StrCat(std::getenv("TEST_TMPDIR"), "/copied_worker");
  {
    std::ifstream in(iw::testing::TestWorkerPath(), std::ios::binary);
    std::ofstream out(copy, std::ios::binary);
    out << in.rdbuf();
  }
  REQUIRE(::chmod(copy.c_str(), 0755) == 0);
  {
    auto first = SpawnOrDie(ForkServerOptions(copy));
    const int server = ParentOf(first->pid());
    REQUIRE(server != ::getpid());
    // "Rebuilt": the same path, another modification time.
    struct timespec times[2] = {{0, UTIME_OMIT}, {1, 0}};
    REQUIRE(::utimensat(AT_FDCWD, copy.c_str(), times, 0) == 0);
    auto second = SpawnOrDie(ForkServerOptions(copy));
    CHECK(ParentOf(second->pid()) != server);
    CHECK(ParentOf(second->pid()) != ::getpid());
  }
  CHECK(NoChildProcesses());
  ::unlink(copy.c_str());
}

TEST_CASE("Fork server: idle servers are closed on request and no process is left",
          "[e2e][fork_server]") {
  int server = 0;
  {
    auto host = SpawnOrDie(ForkServerOptions());
    server = ParentOf(host->pid());
    // In use (its worker runs): not idle.
    CHECK(iw::internal::CloseIdleForkServers() == 0);
    CHECK(ProcessAlive(server));
  }
  CHECK(iw::internal::CloseIdleForkServers() == 1);
  CHECK_FALSE(ProcessAlive(server));
  CHECK(NoChildProcesses());
}

}  // namespace

namespace {

TEST_CASE(
    "Fork server: workers spawned and closed in parallel are gone when Close() returns, "
    "having drained without their exit watchdog",
    "[e2e][fork_server]") {
  LogCapture logs;
  constexpr int kWorkers = 15;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<iwtest::TestServiceHost>> hosts(kWorkers);
    {
      std::vector<std::thread> threads;
      for (int i = 0; i < kWorkers; ++i) {
        threads.emplace_back([&, i] {
          iw::WorkerOptions options = ForkServerOptions();
          // Its lines reach the log sink ("stderr: ...").
          options.stderr_mode = iw::OutputMode::kCapture;
          auto host = iwtest::TestServiceHost::Spawn(options);
          if (host.ok()) hosts[i] = std::move(*host);
        });
      }
      for (std::thread& t : threads) t.join();
    }
    std::vector<int> pids;
    for (auto& host : hosts) {
      REQUIRE(host != nullptr);
      CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
      pids.push_back(host->pid());
    }
    std::vector<absl::Duration> took(kWorkers);
    {
      std::vector<std::thread> threads;
      for (int i = 0; i < kWorkers; ++i) {
        threads.emplace_back([&, i] {
          const absl::Time start = absl::Now();
          CHECK_THAT(hosts[i]->Close(), IsOk());
          took[i] = absl::Now() - start;
        });
      }
      for (std::thread& t : threads) t.join();
    }
    for (int i = 0; i < kWorkers; ++i) {
      INFO("worker " << pids[i] << " closed in " << absl::FormatDuration(took[i]));
      CHECK_FALSE(ProcessAlive(pids[i]));
      CHECK(took[i] < absl::Seconds(4));
    }
  }
  CHECK_FALSE(logs.ContainsAtAnyLevel("handlers still running"));
  CHECK(NoChildProcesses());
}

}  // namespace
