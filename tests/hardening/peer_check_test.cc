// The host accepts the ready message only from the process it spawned
// (SCM_CREDENTIALS, see runtime/transport/peer_credentials.h).
#include "catch2/catch.hpp"
#include "tests/testing/carrier.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::StatusIs;

TEST_CASE("Peer check: a real worker's ready message is accepted", "[hardening][e2e]") {
  {
    iw::WorkerOptions options = iw::testing::CarrierOptions();
    options.executable = iw::testing::RunfilePath("tests/workers/test_worker");
    auto host = iwtest::TestServiceHost::Spawn(options);
    REQUIRE_THAT(host.status(), IsOk());
    CHECK_THAT((*host)->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Peer check: a ready message sent by another process than the spawned one is "
    "refused with PERMISSION_DENIED",
    "[hardening][e2e]") {
  {
    iw::WorkerOptions options = iw::testing::CarrierOptions();
    options.executable = iw::testing::RunfilePath("tests/workers/impostor_ready_worker");
    options.startup_timeout = absl::Seconds(10);
    auto host = iwtest::TestServiceHost::Spawn(options);
    CHECK_THAT(host.status(),
               StatusIs(absl::StatusCode::kPermissionDenied, "expected the spawned worker"));
  }
  CHECK(NoChildProcesses());
}

}  // namespace
