// The host of the crash_recovery example: what happens to a call when its
// worker dies (retry or reject, per method), what the error says (exit
// status, last stderr lines, attempt count), replacing the dead worker or not
// (RespawnPolicy), and the worker's stderr captured into our log sink.
//
//   tools/bazel run //examples/crash_recovery:crash_recovery
//
// Exit status 0 if everything behaved as the comments say.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/crash_recovery/crash_recovery.iw.h"
#include "runtime/logging.h"
#include "runtime/paths.h"
#include "runtime/worker_crash.h"

namespace {

using crash_recovery::v1::JobReply;
using crash_recovery::v1::JobRequest;
using crash_recovery::v1::JobsHost;

bool g_ok = true;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::printf("UNEXPECTED: %s\n", what);
    g_ok = false;
  }
}

// Code and message; without the payloads (ToString() would append the
// iw.WorkerCrash detail as escaped bytes).
std::string Indented(const absl::Status& status) {
  return absl::StrReplaceAll(status.ToString(absl::StatusToStringMode::kWithNoExtraData),
                             {{"\n", "\n  "}});
}

// Our log sink: the workers' captured stderr lines (level info, "stderr: "),
// and the framework's warnings and errors, first line only (the caller gets
// the whole story in the status).
void LogToStdout(const iw::LogRecord& record) {
  absl::string_view message = record.message;
  if (absl::ConsumePrefix(&message, "stderr: ")) {
    std::printf("  [worker stderr] %s: %s\n", record.worker_id.c_str(),
                std::string(message).c_str());
  } else if (record.level >= iw::LogLevel::kWarning) {
    message = message.substr(0, message.find("; last stderr lines"));
    std::printf("  [iw %s] %s\n", iw::LogLevelName(record.level), std::string(message).c_str());
  }
}

JobRequest Job(const std::string& input, crash_recovery::v1::Crash crash,
               const std::string& marker = "") {
  JobRequest request;
  request.set_input(input);
  request.set_crash(crash);
  request.set_once_marker(marker);
  return request;
}

std::string Marker(const char* name) {
  const char* tmp = std::getenv("TMPDIR");
  return absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/crash_recovery-", name, "-", ::getpid());
}

std::unique_ptr<JobsHost> SpawnOrDie(const iw::WorkerOptions& options) {
  absl::StatusOr<std::unique_ptr<JobsHost>> host = JobsHost::Spawn(options);
  if (!host.ok()) {
    std::printf("spawn failed: %s\n", host.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*host);
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // Info and up: the captured stderr lines are logged at level info.
  iw::SetLogSink(LogToStdout, iw::LogLevel::kInfo);

  iw::WorkerOptions options;
  options.executable = iw::SiblingExecutable("crash_recovery_worker");
  // Each line the worker writes to stderr becomes a log record (level info,
  // tagged with the worker's id). The last lines are also kept for crash
  // reports, whatever the mode.
  options.stderr_mode = iw::OutputMode::kCapture;

  std::printf("1. Convert: (iw.method) on_crash: CRASH_RETRY, max_attempts: 3\n");
  {
    std::unique_ptr<JobsHost> host = SpawnOrDie(options);
    const int first_pid = host->pid();
    const std::string marker = Marker("once");
    absl::StatusOr<JobReply> reply =
        host->Convert(Job("report.csv", crash_recovery::v1::CRASH_ONCE, marker));
    ::unlink(marker.c_str());
    Check(reply.ok() && reply->worker_pid() != first_pid, "the retry did not succeed");
    if (reply.ok()) {
      std::printf(
          "Convert(\"report.csv\", crashes once) -> OK \"%s\" from pid %d "
          "(attempt 1 crashed pid %d)\n",
          reply->output().c_str(), reply->worker_pid(), first_pid);
    }

    absl::Status status =
        host->Convert(Job("poison.csv", crash_recovery::v1::CRASH_ALWAYS)).status();
    std::printf("Convert(\"poison.csv\", crashes always) -> %s\n", Indented(status).c_str());
    Check(status.code() == absl::StatusCode::kUnavailable &&
              absl::StrContains(status.message(), "(attempt 3 of 3)"),
          "no UNAVAILABLE after 3 attempts");
    // The same facts, typed: a program need not parse the message.
    std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
    if (crash) {
      std::printf("iw::WorkerCrashOf(status): cause %s, signal %d, attempt %d of %d\n",
                  iw::WorkerCrashCauseName(crash->cause()), crash->signal(), crash->attempt(),
                  crash->max_attempts());
    }
    Check(crash && crash->cause() == iw::WorkerCrash::KILLED_BY_SIGNAL &&
              crash->signal() == SIGSEGV && crash->attempt() == 3,
          "no typed crash (iw::WorkerCrash) on the status");

    iw::PoolStats stats = host->stats();
    std::printf("stats(): workers crashed %lld, calls completed %lld, calls failed %lld\n",
                static_cast<long long>(stats.workers_crashed),
                static_cast<long long>(stats.calls_completed),
                static_cast<long long>(stats.calls_failed));
    Check(stats.workers_crashed == 4, "expected 1 + 3 crashed workers");
  }

  std::printf("\n2. Commit: CRASH_REJECT (the default); RespawnPolicy::kAlways (the default)\n");
  {
    std::unique_ptr<JobsHost> host = SpawnOrDie(options);
    const int first_pid = host->pid();
    const std::string marker = Marker("commit");
    absl::Status status =
        host->Commit(Job("order-17", crash_recovery::v1::CRASH_ONCE, marker)).status();
    std::printf("Commit(\"order-17\", crashes once) -> %s\n", Indented(status).c_str());
    Check(status.code() == absl::StatusCode::kUnavailable &&
              !absl::StrContains(status.message(), "attempt"),
          "Commit was not rejected at once");
    // Not retried by the framework: it may have committed before dying.
    // The caller knows whether a second commit is harmless; here it is.
    absl::StatusOr<JobReply> reply =
        host->Commit(Job("order-17", crash_recovery::v1::CRASH_ONCE, marker));
    ::unlink(marker.c_str());
    Check(reply.ok() && reply->worker_pid() != first_pid, "no fresh worker");
    if (reply.ok()) {
      std::printf(
          "Commit(\"order-17\") again, the caller's decision -> OK \"%s\" from pid %d, "
          "a fresh worker\n",
          reply->output().c_str(), reply->worker_pid());
    }
  }

  std::printf("\n3. RespawnPolicy::kNever: a dead worker stays dead\n");
  {
    iw::WorkerOptions never = options;
    never.respawn = iw::RespawnPolicy::kNever;
    std::unique_ptr<JobsHost> host = SpawnOrDie(never);
    absl::Status status = host->Commit(Job("order-18", crash_recovery::v1::CRASH_ALWAYS)).status();
    std::printf("Commit(\"order-18\", crashes) -> %s\n", Indented(status).c_str());
    // The host notices the death on its own thread; give it a moment.
    for (absl::Time give_up = absl::Now() + absl::Seconds(5);
         host->state() != iw::WorkerState::kCrashed && absl::Now() < give_up;) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    std::printf("state %s, IsActive() %s, pid() %d\n", iw::WorkerStateName(host->state()),
                host->IsActive() ? "true" : "false", host->pid());
    Check(host->state() == iw::WorkerState::kCrashed && !host->IsActive(), "not crashed");
    status = host->Commit(Job("order-19", crash_recovery::v1::CRASH_NEVER)).status();
    std::printf("Commit(\"order-19\") -> %s\n", Indented(status).c_str());
    Check(status.code() == absl::StatusCode::kUnavailable &&
              absl::StrContains(status.message(), "(RespawnPolicy::kNever)"),
          "no UNAVAILABLE naming RespawnPolicy::kNever");
    absl::Status closed = host->Close();
    std::printf("Close() -> %s\n", closed.ToString().c_str());
  }

  iw::SetLogSink(nullptr);  // back to the default (stderr, warnings and up)
  std::printf("\n%s\n", g_ok ? "crash handling as described" : "SOMETHING UNEXPECTED");
  return g_ok ? 0 : 1;
}
