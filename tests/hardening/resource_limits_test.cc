// Resource limits of real workers (WorkerOptions::limits): CPU time, address
// space, open files, core dumps.
#include <unistd.h>

#include <memory>
#include <string>

#include "catch2/catch.hpp"
#include "tests/hardening/hardening_util.h"
#include "tests/testing/carrier.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::ProcLimitsLine;
using iw::testing::StatusIs;
using iwtest::TestServiceHost;

iw::WorkerOptions Options() {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = iw::testing::RunfilePath("tests/workers/test_worker");
  return options;
}

std::unique_ptr<TestServiceHost> Spawn(iw::WorkerOptions options) {
  auto host = TestServiceHost::Spawn(std::move(options));
  REQUIRE_THAT(host.status(), IsOk());
  return std::move(*host);
}

iw::CallOptions Within(absl::Duration timeout) {
  iw::CallOptions call;
  call.timeout = timeout;
  return call;
}

TEST_CASE(
    "Resource limits: a worker spinning past its CPU limit fails the call "
    "UNAVAILABLE naming the limit",
    "[hardening][e2e]") {
  {
    iw::WorkerOptions options = Options();
    options.limits.cpu_time = absl::Seconds(1);
    auto host = Spawn(options);
    CHECK_THAT(ProcLimitsLine(host->pid(), "Max cpu time"), Catch::Contains("1 "));
    iwtest::SpinRequest spin;
    spin.set_max_ms(15000);
    absl::Status status = host->Spin(spin, Within(absl::Seconds(20))).status();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "CPU time limit"));
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "SIGXCPU"));
    host->Close().IgnoreError();
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Resource limits: an allocation over the address-space limit fails and the "
    "worker keeps serving",
    "[hardening][e2e]") {
  if (iw::testing::kSanitizerReservesAddressSpace) {
    WARN("skipped: sanitizers reserve more address space than any useful limit");
    return;
  }
  {
    iw::WorkerOptions options = Options();
    options.limits.address_space_bytes = uint64_t{2} << 30;
    auto host = Spawn(options);
    CHECK_THAT(ProcLimitsLine(host->pid(), "Max address space"), Catch::Contains("2147483648"));

    iwtest::AllocateRequest request;
    request.set_bytes(int64_t{4} << 30);
    CHECK_THAT(host->Allocate(request, Within(absl::Seconds(20))).status(),
               StatusIs(absl::StatusCode::kResourceExhausted, "ran out of memory"));
    // The worker survived std::bad_alloc: a small allocation works.
    request.set_bytes(1 << 20);
    CHECK_THAT(host->Allocate(request, Within(absl::Seconds(20))).status(), IsOk());

    // Native code that aborts on a failed malloc() kills the worker; the
    // error explains the limit.
    request.set_bytes(int64_t{4} << 30);
    request.set_abort_on_failure(true);
    absl::Status died = host->Allocate(request, Within(absl::Seconds(20))).status();
    CHECK_THAT(died, StatusIs(absl::StatusCode::kUnavailable, "SIGABRT"));
    CHECK_THAT(died, StatusIs(absl::StatusCode::kUnavailable, "address-space limit of 2048 MiB"));
    host->Close().IgnoreError();
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Resource limits: the open-files limit caps the worker's descriptors",
          "[hardening][e2e]") {
  {
    iw::WorkerOptions options = Options();
    options.limits.open_files = 64;
    auto host = Spawn(options);
    CHECK_THAT(ProcLimitsLine(host->pid(), "Max open files"), Catch::Contains("64"));
    iwtest::OpenFilesRequest request;
    request.set_count(200);
    absl::StatusOr<iwtest::OpenFilesReply> reply =
        host->OpenFiles(request, Within(absl::Seconds(10)));
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->opened() < 64);
    CHECK(reply->error() == "Too many open files");
    // Still serving once the descriptors are closed again.
    iwtest::EchoRequest echo;
    echo.set_text("still here");
    CHECK_THAT(host->Echo(echo, Within(absl::Seconds(10))).status(), IsOk());
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Resource limits: core dumps are off by default and on when allowed",
          "[hardening][e2e]") {
  {
    auto host = Spawn(Options());
    CHECK_THAT(ProcLimitsLine(host->pid(), "Max core file size"),
               Catch::Matches("Max core file size +0 +0 +bytes *"));
    CHECK_THAT(host->Close(), IsOk());

    iw::WorkerOptions allowed = Options();
    allowed.limits.allow_core_dumps = true;
    auto host2 = Spawn(allowed);
    CHECK(ProcLimitsLine(host2->pid(), "Max core file size") ==
          ProcLimitsLine(::getpid(), "Max core file size"));
    CHECK_THAT(host2->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

}  // namespace
