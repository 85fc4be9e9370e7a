// Spawn failures: every one is a precise status, and nothing is left behind.
#include <signal.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/carrier.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::NoChildProcesses;
using iw::testing::RunfilePath;
using iw::testing::StatusIs;
using iwtest::TestServiceHost;

absl::Status SpawnStatus(iw::WorkerOptions options) {
  return TestServiceHost::Spawn(std::move(options)).status();
}

TEST_CASE("Spawn: a missing binary is NOT_FOUND naming the path", "[e2e][spawn]") {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = "/nonexistent/dir/worker-binary";
  CHECK_THAT(SpawnStatus(options),
             StatusIs(absl::StatusCode::kNotFound,
                      "exec /nonexistent/dir/worker-binary: No such file or directory"));
  CHECK(NoChildProcesses());
}

TEST_CASE("Spawn: a non-executable file is PERMISSION_DENIED naming the path", "[e2e][spawn]") {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = RunfilePath("tests/workers/test_service.proto");
  CHECK_THAT(SpawnStatus(options), StatusIs(absl::StatusCode::kPermissionDenied,
                                            "exec " + options.executable + ": Permission denied"));
  CHECK(NoChildProcesses());
}

TEST_CASE("Spawn: an empty executable path is INVALID_ARGUMENT", "[e2e][spawn]") {
  CHECK_THAT(SpawnStatus(iw::testing::CarrierOptions()),
             StatusIs(absl::StatusCode::kInvalidArgument, "executable is empty"));
}

TEST_CASE("Spawn: a directory given as the executable is FAILED_PRECONDITION saying so",
          "[e2e][spawn]") {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  const char* tmp = std::getenv("TEST_TMPDIR");
  options.executable = tmp != nullptr ? tmp : "/tmp";
  CHECK_THAT(SpawnStatus(options),
             StatusIs(absl::StatusCode::kFailedPrecondition,
                      options.executable + " is a directory, not an executable file"));
  CHECK(NoChildProcesses());
}

TEST_CASE("Spawn: a negative or zero call_timeout is INVALID_ARGUMENT at Spawn()", "[e2e][spawn]") {
  for (absl::Duration timeout : {absl::Seconds(-1), absl::ZeroDuration()}) {
    iw::WorkerOptions options = iw::testing::TestWorkerOptions();
    options.call_timeout = timeout;
    CHECK_THAT(SpawnStatus(options), StatusIs(absl::StatusCode::kInvalidArgument,
                                              "WorkerOptions::call_timeout must be positive, got " +
                                                  absl::FormatDuration(timeout)));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Spawn: bad environment names, and NUL bytes in values or arguments, are "
    "INVALID_ARGUMENT naming the variable or argument",
    "[e2e][spawn]") {
  struct Case {
    std::map<std::string, std::string> env;
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{"", "x"}}, {}, "WorkerOptions::env has a variable with an empty name"},
      {{{"A=B", "x"}}, {}, "WorkerOptions::env variable name \"A=B\" contains '='"},
      {{{std::string("A\0B", 3), "x"}}, {}, "variable name \"A\\000B\" contains '\\0'"},
      {{{"GOOD", std::string("a\0b", 3)}}, {}, "WorkerOptions::env value of GOOD contains a NUL"},
      {{}, {"ok", std::string("x\0y", 3)}, "WorkerOptions::args[1] contains a NUL byte"},
  };
  for (const Case& c : cases) {
    iw::WorkerOptions options = iw::testing::TestWorkerOptions();
    options.env = c.env;
    options.args = c.args;
    CHECK_THAT(SpawnStatus(options), StatusIs(absl::StatusCode::kInvalidArgument, c.expected));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Spawn: a bad working directory is reported with its path", "[e2e][spawn]") {
  iw::WorkerOptions options = iw::testing::TestWorkerOptions();
  options.working_directory = "/nonexistent-working-dir";
  CHECK_THAT(SpawnStatus(options),
             StatusIs(absl::StatusCode::kNotFound, "chdir to /nonexistent-working-dir"));
  CHECK(NoChildProcesses());
}

TEST_CASE("Spawn: a worker that exits before it is ready reports its exit status", "[e2e][spawn]") {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = RunfilePath("tests/workers/exit_early_worker");
  options.stderr_mode = iw::OutputMode::kDiscard;
  CHECK_THAT(SpawnStatus(options),
             StatusIs(absl::StatusCode::kUnavailable, "exited before it was ready: exit code 3"));
  CHECK(NoChildProcesses());
}

TEST_CASE("Spawn: a worker that never becomes ready is killed at the startup timeout",
          "[e2e][spawn]") {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = RunfilePath("tests/workers/hang_before_ready_worker");
  options.startup_timeout = absl::Milliseconds(200);
  absl::Status status = SpawnStatus(options);
  CHECK_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded,
                              "not ready within 200ms (startup timeout from "
                              "WorkerOptions::startup_timeout)"));
  CHECK_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded,
                              "it was still running and has been killed"));
  CHECK(NoChildProcesses());
}

}  // namespace
