// The schema check at spawn and connect: a worker of another service, or of
// another version of the same .proto with a field of another type, fails
// Spawn()/Connect() with FAILED_PRECONDITION; a wire-compatible version
// (renamed field, edited comment) passes. Real worker binaries.
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/process/subprocess.h"
#include "runtime/wire/schema.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/carrier.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::RunfilePath;
using iw::testing::StatusIs;
using iwtest::TestServiceHost;

iw::WorkerOptions OptionsFor(const std::string& worker) {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = RunfilePath(worker);
  options.stderr_mode = iw::OutputMode::kDiscard;
  return options;
}

std::string OurFingerprint() {
  return iw::internal::SchemaOf(iwtest::iw_internal::kTestServiceService).fingerprint;
}

TEST_CASE(
    "Schema check: a worker of another service fails Spawn() with FAILED_PRECONDITION "
    "naming both services",
    "[e2e][schema]") {
  absl::Status status =
      TestServiceHost::Spawn(OptionsFor("tests/hardening/limits_worker")).status();
  CHECK_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                              "the worker serves iwtest.LimitsService (schema fingerprint "));
  CHECK_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                              absl::StrCat("the host expects iwtest.TestService (schema "
                                           "fingerprint ",
                                           OurFingerprint(), ")")));
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Schema check: a worker built from a version of the .proto with a changed field "
    "type fails Spawn() with FAILED_PRECONDITION naming both fingerprints",
    "[e2e][schema]") {
  absl::Status status =
      TestServiceHost::Spawn(OptionsFor("tests/workers/schema_changed_worker")).status();
  CHECK_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                              "built from a different version of its .proto"));
  CHECK_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                              absl::StrCat("iwtest.TestService (schema fingerprint ",
                                           OurFingerprint(), ")")));
  CHECK(NoChildProcesses());
}

TEST_CASE("Schema check: SchemaCheck::kServiceName accepts another version of the same service",
          "[e2e][schema]") {
  iw::WorkerOptions options = OptionsFor("tests/workers/schema_changed_worker");
  options.schema_check = iw::SchemaCheck::kServiceName;
  {
    auto host = TestServiceHost::Spawn(options);
    REQUIRE_THAT(host.status(), IsOk());
    CHECK_THAT((*host)->Close(), IsOk());
  }
  // Another service stays refused.
  options.executable = RunfilePath("tests/hardening/limits_worker");
  CHECK_THAT(TestServiceHost::Spawn(options).status(),
             StatusIs(absl::StatusCode::kFailedPrecondition, "iwtest.LimitsService"));
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Schema check: a renamed field and edited comments keep the schema: the worker is "
    "accepted and answers",
    "[e2e][schema]") {
  {
    auto host = TestServiceHost::Spawn(OptionsFor("tests/workers/schema_renamed_worker"));
    REQUIRE_THAT(host.status(), IsOk());
    iwtest::EchoRequest request;
    request.set_text("same bytes");
    absl::StatusOr<iwtest::EchoReply> reply = (*host)->Echo(request);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->text() == "same bytes");
    CHECK_THAT((*host)->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

// A worker serving on a Unix socket, started by hand as an operator would.
struct ListeningWorker {
  std::unique_ptr<iw::internal::Subprocess> process;
  std::string address;
};

ListeningWorker StartListening(const std::string& worker) {
  ListeningWorker listening;
  const std::string path =
      absl::StrCat("/tmp/iw-schema-", ::getpid(), "-", absl::ToUnixMicros(absl::Now()), ".sock");
  listening.address = "unix:" + path;
  iw::internal::SpawnSpec spec;
  spec.executable = RunfilePath(worker);
  spec.argv = {spec.executable, "--iw_listen=" + listening.address};
  spec.env = iw::testing::CurrentEnvironment();
  auto process = iw::internal::Subprocess::Start(spec);
  REQUIRE(process.ok());
  listening.process = std::move(*process);
  // Ready once a connect() succeeds (not when the socket file appears).
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!iw::testing::UnixSocketAccepts(path) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  REQUIRE(iw::testing::UnixSocketAccepts(path));
  return listening;
}

void Stop(ListeningWorker& listening) {
  listening.process->Signal(SIGTERM);
  if (!listening.process->Wait(absl::Now() + absl::Seconds(20)).has_value()) {
    listening.process->Signal(SIGKILL);
    listening.process->Wait(absl::InfiniteFuture());
  }
  ::unlink(listening.address.substr(5).c_str());
}

TEST_CASE(
    "Schema check: Connect() to a remote worker of another version or service fails "
    "with FAILED_PRECONDITION; the same schema connects",
    "[e2e][schema]") {
  iw::RemoteOptions remote;
  remote.connect_timeout = absl::Seconds(20);
  {
    ListeningWorker changed = StartListening("tests/workers/schema_changed_worker");
    CHECK_THAT(TestServiceHost::Connect({changed.address}, remote).status(),
               StatusIs(absl::StatusCode::kFailedPrecondition,
                        "built from a different version of its .proto"));
    Stop(changed);
  }
  {
    ListeningWorker other = StartListening("tests/hardening/limits_worker");
    CHECK_THAT(
        TestServiceHost::Connect({other.address}, remote).status(),
        StatusIs(absl::StatusCode::kFailedPrecondition, "the worker serves iwtest.LimitsService"));
    Stop(other);
  }
  {
    ListeningWorker same = StartListening("tests/workers/test_worker");
    auto host = TestServiceHost::Connect({same.address}, remote);
    REQUIRE_THAT(host.status(), IsOk());
    CHECK_THAT((*host)->Echo(iwtest::EchoRequest()).status(), IsOk());
    CHECK_THAT((*host)->Close(), IsOk());
    Stop(same);
  }
  CHECK(NoChildProcesses());
}

}  // namespace
