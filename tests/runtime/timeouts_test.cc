// The timeout precedence chain and the scale factor, level by level.
#include "runtime/common/timeouts.h"

#include <cstdlib>

#include "catch2/catch.hpp"
#include "tests/testing/status_matchers.h"

namespace {

using iw::codegen::MethodInfo;
using iw::codegen::ServiceInfo;
using iw::internal::ResolveCallTimeout;
using iw::internal::ResolveStartupTimeout;
using iw::testing::StatusIs;

constexpr iw::codegen::MethodInfo kMethods[] = {
    {"WithTimeout", "/t.S/WithTimeout", /*timeout_ms=*/500},
    {"Plain", "/t.S/Plain", /*timeout_ms=*/0},
};
constexpr iw::codegen::ServiceInfo kWithDefaults = {"t.S", kMethods, 2, /*default_timeout_ms=*/2000,
                                                    /*startup_timeout_ms=*/3000};
constexpr iw::codegen::ServiceInfo kBare = {"t.S", kMethods, 2};

struct ScaleGuard {
  explicit ScaleGuard(const char* value) {
    if (value) {
      ::setenv("IW_TIMEOUT_SCALE", value, 1);
    } else {
      ::unsetenv("IW_TIMEOUT_SCALE");
    }
  }
  ~ScaleGuard() { ::unsetenv("IW_TIMEOUT_SCALE"); }
};

TEST_CASE("Timeouts: each level of the precedence chain wins over the ones below",
          "[runtime][timeouts]") {
  ScaleGuard no_scale(nullptr);
  iw::CallOptions call;
  call.timeout = absl::Milliseconds(10);
  const std::optional<absl::Duration> host_method = absl::Milliseconds(20);
  const std::optional<absl::Duration> host_all = absl::Milliseconds(30);

  auto resolved = ResolveCallTimeout(kWithDefaults, 0, host_method, host_all, call);
  REQUIRE(resolved.ok());
  CHECK(resolved->timeout == absl::Milliseconds(10));
  CHECK(resolved->source == "CallOptions::timeout");

  resolved = ResolveCallTimeout(kWithDefaults, 0, host_method, host_all, {});
  CHECK(resolved->timeout == absl::Milliseconds(20));
  CHECK(resolved->source == "the host's MethodConfig for WithTimeout");

  resolved = ResolveCallTimeout(kWithDefaults, 0, std::nullopt, host_all, {});
  CHECK(resolved->timeout == absl::Milliseconds(30));
  CHECK(resolved->source == "WorkerOptions::call_timeout");

  resolved = ResolveCallTimeout(kWithDefaults, 0, std::nullopt, std::nullopt, {});
  CHECK(resolved->timeout == absl::Milliseconds(500));
  CHECK(resolved->source == "(iw.method).timeout_ms");

  resolved = ResolveCallTimeout(kWithDefaults, 1, std::nullopt, std::nullopt, {});
  CHECK(resolved->timeout == absl::Milliseconds(2000));
  CHECK(resolved->source == "(iw.service).default_timeout_ms");

  resolved = ResolveCallTimeout(kBare, 1, std::nullopt, std::nullopt, {});
  CHECK(resolved->timeout == iw::kDefaultCallTimeout);
  CHECK(resolved->source == "the library default");
}

TEST_CASE("Timeouts: the startup bound comes from the host, then the .proto, then the library",
          "[runtime][timeouts]") {
  ScaleGuard no_scale(nullptr);
  iw::WorkerOptions options;
  auto startup = ResolveStartupTimeout(kWithDefaults, options);
  CHECK(startup->timeout == absl::Milliseconds(3000));
  CHECK(startup->source == "(iw.service).startup_timeout_ms");
  CHECK(ResolveStartupTimeout(kBare, options)->timeout == iw::kDefaultStartupTimeout);
  options.startup_timeout = absl::Milliseconds(250);
  CHECK(ResolveStartupTimeout(kWithDefaults, options)->source == "WorkerOptions::startup_timeout");
}

TEST_CASE("Timeouts: $IW_TIMEOUT_SCALE multiplies every bound and says so", "[runtime][timeouts]") {
  ScaleGuard scale("2.5");
  auto resolved = ResolveCallTimeout(kWithDefaults, 0, std::nullopt, std::nullopt, {});
  CHECK(resolved->timeout == absl::Milliseconds(1250));
  CHECK(resolved->source == "(iw.method).timeout_ms x2.5 ($IW_TIMEOUT_SCALE)");
  CHECK(ResolveStartupTimeout(kWithDefaults, {})->timeout == absl::Milliseconds(7500));

  SECTION("an invalid scale is ignored") {
    ScaleGuard bad("-3");
    CHECK(ResolveCallTimeout(kWithDefaults, 0, std::nullopt, std::nullopt, {})->timeout ==
          absl::Milliseconds(500));
  }
}

TEST_CASE("Timeouts: a non-positive timeout is INVALID_ARGUMENT naming its source",
          "[runtime][timeouts]") {
  ScaleGuard no_scale(nullptr);
  iw::CallOptions call;
  call.timeout = absl::ZeroDuration();
  CHECK_THAT(
      ResolveCallTimeout(kWithDefaults, 0, std::nullopt, std::nullopt, call).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, "CallOptions::timeout must be positive, got 0"));
}

}  // namespace
