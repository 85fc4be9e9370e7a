// The worker's environment in each EnvironmentMode, seen from inside real
// worker processes (TestService.GetEnv).
#include <stdlib.h>

#include <memory>
#include <optional>
#include <string>

#include "catch2/catch.hpp"
#include "tests/testing/carrier.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iwtest::TestServiceHost;

// Set before main(), before any gRPC thread exists (setenv is not
// thread-safe).
const bool kEnvironmentSet = [] {
  ::setenv("IWH_SECRET_TOKEN", "hunter2", 1);
  ::setenv("IWH_KEEP", "kept", 1);
  ::setenv("IWH_LC_ONE", "1", 1);
  ::setenv("IWH_LC_TWO", "2", 1);
  return true;
}();

iw::WorkerOptions Options() {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = iw::testing::RunfilePath("tests/workers/test_worker");
  return options;
}

// The value of `name` in the worker's environment, or nullopt if unset.
std::optional<std::string> WorkerEnv(TestServiceHost& host, const std::string& name) {
  iwtest::GetEnvRequest request;
  request.set_name(name);
  iw::CallOptions call;
  call.timeout = absl::Seconds(10);
  absl::StatusOr<iwtest::GetEnvReply> reply = host.GetEnv(request, call);
  REQUIRE_THAT(reply.status(), IsOk());
  if (!reply->set()) return std::nullopt;
  return reply->value();
}

std::unique_ptr<TestServiceHost> Spawn(iw::WorkerOptions options) {
  auto host = TestServiceHost::Spawn(std::move(options));
  REQUIRE_THAT(host.status(), IsOk());
  return std::move(*host);
}

TEST_CASE("Worker environment: by default the worker inherits the host's variables",
          "[hardening][e2e]") {
  REQUIRE(kEnvironmentSet);
  {
    iw::WorkerOptions options = Options();
    options.env["IWH_ADDED"] = "added";
    auto host = Spawn(options);
    CHECK(WorkerEnv(*host, "IWH_SECRET_TOKEN") == "hunter2");
    CHECK(WorkerEnv(*host, "IWH_KEEP") == "kept");
    CHECK(WorkerEnv(*host, "IWH_ADDED") == "added");
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Worker environment: kClean passes only env and the framework's variables",
          "[hardening][e2e]") {
  {
    iw::WorkerOptions options = Options();
    options.environment_mode = iw::EnvironmentMode::kClean;
    options.env["IWH_ADDED"] = "added";
    auto host = Spawn(options);
    CHECK(WorkerEnv(*host, "IWH_SECRET_TOKEN") == std::nullopt);
    CHECK(WorkerEnv(*host, "IWH_KEEP") == std::nullopt);
    CHECK(WorkerEnv(*host, "PATH") == std::nullopt);
    CHECK(WorkerEnv(*host, "IWH_ADDED") == "added");
    std::optional<std::string> id = WorkerEnv(*host, "IW_WORKER_ID");
    REQUIRE(id.has_value());
    CHECK_THAT(*id, Catch::Contains("TestService#"));
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Worker environment: kAllowList passes only the listed host variables",
          "[hardening][e2e]") {
  {
    iw::WorkerOptions options = Options();
    options.environment_mode = iw::EnvironmentMode::kAllowList;
    options.env_allow_list = {"IWH_KEEP", "IWH_LC_*"};
    options.env["IWH_ADDED"] = "added";
    auto host = Spawn(options);
    CHECK(WorkerEnv(*host, "IWH_SECRET_TOKEN") == std::nullopt);
    CHECK(WorkerEnv(*host, "IWH_KEEP") == "kept");
    CHECK(WorkerEnv(*host, "IWH_LC_ONE") == "1");
    CHECK(WorkerEnv(*host, "IWH_LC_TWO") == "2");
    CHECK(WorkerEnv(*host, "IWH_ADDED") == "added");
    CHECK(WorkerEnv(*host, "PATH") == std::nullopt);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Worker environment: env_remove hides an inherited variable from the worker",
          "[hardening][e2e]") {
  {
    iw::WorkerOptions options = Options();
    options.env_remove = {"IWH_SECRET_TOKEN", "IWH_LC_*"};
    auto host = Spawn(options);
    CHECK(WorkerEnv(*host, "IWH_SECRET_TOKEN") == std::nullopt);
    CHECK(WorkerEnv(*host, "IWH_LC_ONE") == std::nullopt);
    CHECK(WorkerEnv(*host, "IWH_KEEP") == "kept");
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Worker environment: the framework's own variables win over env", "[hardening][e2e]") {
  {
    iw::WorkerOptions options = Options();
    options.env["IW_WORKER_ID"] = "forged";
    options.env["IW_CONTROL_FD"] = "99";
    auto host = Spawn(options);  // would never get ready with a forged fd
    std::optional<std::string> id = WorkerEnv(*host, "IW_WORKER_ID");
    REQUIRE(id.has_value());
    CHECK(*id != "forged");
    CHECK(WorkerEnv(*host, "IW_CONTROL_FD") == "4");
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

}  // namespace
