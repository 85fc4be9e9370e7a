// Resource limits applied by Subprocess between fork and exec, and how the
// end of a limited process is described.
#include <signal.h>
#include <sys/resource.h>

#include <memory>
#include <string>

#include "catch2/catch.hpp"
#include "runtime/process/subprocess.h"
#include "tests/hardening/hardening_util.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"

namespace iw::internal {
namespace {

using ::iw::testing::IsOk;
using ::iw::testing::NoChildProcesses;

// Runs `/bin/sh -c script` under `limits`; returns how it ended (deadline 20 s).
ExitStatus RunShell(const std::string& script, const ResourceLimits& limits) {
  SpawnSpec spec;
  spec.executable = "/bin/sh";
  spec.argv = {"/bin/sh", "-c", script};
  spec.limits = limits;
  auto child = Subprocess::Start(spec);
  REQUIRE_THAT(child.status(), IsOk());
  std::optional<ExitStatus> status = (*child)->Wait(absl::Now() + absl::Seconds(20));
  REQUIRE(status.has_value());
  return *status;
}

TEST_CASE("Subprocess: core dumps are off by default (RLIMIT_CORE 0)", "[hardening]") {
  CHECK(RunShell("test \"$(ulimit -c)\" = 0", {}).ToString() == "exit code 0");
  CHECK(RunShell("test \"$(ulimit -H -c)\" = 0", {}).ToString() == "exit code 0");
  CHECK(NoChildProcesses());
}

TEST_CASE("Subprocess: allow_core_dumps keeps the host's core limit", "[hardening]") {
  ResourceLimits limits;
  limits.allow_core_dumps = true;
  // Compare /proc/self/limits lines: shells disagree on ulimit -c's units.
  const std::string line = iw::testing::ProcLimitsLine(::getpid(), "Max core file size");
  REQUIRE_FALSE(line.empty());
  CHECK(RunShell("test \"$(grep 'Max core file size' /proc/self/limits)\" = '" + line + "'", limits)
            .ToString() == "exit code 0");
  CHECK(NoChildProcesses());
}

TEST_CASE("Subprocess: the open-files and address-space limits are set at spawn", "[hardening]") {
  ResourceLimits limits;
  limits.open_files = 64;
  limits.address_space_bytes = uint64_t{1} << 32;
  CHECK(RunShell("test \"$(ulimit -n)\" = 64 && test \"$(ulimit -v)\" = 4194304", limits)
            .ToString() == "exit code 0");
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Subprocess: a process over its CPU time limit ends with SIGXCPU, described "
    "as such",
    "[hardening]") {
  ResourceLimits limits;
  limits.cpu_time = absl::Seconds(1);
  ExitStatus status = RunShell("while :; do :; done", limits);
  CHECK(status.signaled);
  CHECK(status.code == SIGXCPU);
  CHECK(status.ToString() == "exceeded its CPU time limit of 1s (SIGXCPU)");
  CHECK(NoChildProcesses());
}

TEST_CASE("ExitStatus: a fatal signal under an address-space limit mentions the limit",
          "[hardening]") {
  ExitStatus status;
  status.signaled = true;
  status.code = SIGABRT;
  CHECK_THAT(status.ToString(), !Catch::Contains("address-space"));
  status.limits.address_space_bytes = 256 << 20;
  CHECK_THAT(status.ToString(), Catch::StartsWith("killed by signal SIGABRT"));
  CHECK_THAT(status.ToString(), Catch::Contains("address-space limit of 256 MiB") &&
                                    Catch::Contains("probably ran out of memory"));
  status.code = SIGTERM;
  CHECK_THAT(status.ToString(), !Catch::Contains("address-space"));
  status.signaled = false;
  status.code = 0;
  CHECK(status.ToString() == "exit code 0");
}

TEST_CASE("Subprocess: a limit above the host's hard limit is lowered, not an error",
          "[hardening]") {
  struct rlimit ours;
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &ours) == 0);
  if (ours.rlim_max == RLIM_INFINITY) return;
  ResourceLimits limits;
  limits.open_files = static_cast<uint64_t>(ours.rlim_max) + 1000;
  CHECK(
      RunShell("test \"$(ulimit -H -n)\" = " + std::to_string(ours.rlim_max), limits).ToString() ==
      "exit code 0");
  CHECK(NoChildProcesses());
}

}  // namespace
}  // namespace iw::internal
