// iw_carrier_test() (carriers.bzl) hands each test its carrier: `<name>`
// runs with the native carrier, `<name>_grpc_carrier` with gRPC,
// `<name>_fork_server` with the native carrier and a fork server. Checks the
// wiring from the BUILD file to CarrierOptions() through the environment.
#include "tests/testing/carrier.h"

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "catch2/catch.hpp"

namespace {

TEST_CASE("Carriers: the carrier under test is the one the test target's name says",
          "[testing][carriers]") {
  const char* target = std::getenv("TEST_TARGET");  // set by `bazel test`
  REQUIRE(target != nullptr);
  const bool grpc = absl::EndsWith(target, "_grpc_carrier");
  INFO(target << ": IW_TEST_TRANSPORT=" << iw::testing::TestTransportName());
  CHECK(iw::testing::TestTransport() ==
        (grpc ? iw::WorkerTransport::kGrpc : iw::WorkerTransport::kNative));
  CHECK(iw::testing::CarrierOptions().transport == iw::testing::TestTransport());
  CHECK(iw::testing::TestTransportName() == std::string(grpc ? "grpc" : "native"));
}

TEST_CASE("Carriers: the start mode under test is the one the test target's name says",
          "[testing][carriers]") {
  const char* target = std::getenv("TEST_TARGET");
  REQUIRE(target != nullptr);
  const bool fork_server = absl::EndsWith(target, "_fork_server");
  INFO(target);
  CHECK(iw::testing::TestStartMode() ==
        (fork_server ? iw::StartMode::kForkServer : iw::StartMode::kExec));
  CHECK(iw::testing::CarrierOptions().start_mode == iw::testing::TestStartMode());
}

}  // namespace
