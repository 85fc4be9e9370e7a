// The crash policy's arithmetic and wording, without a pool.
#include "runtime/host/retry_policy.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "google/protobuf/wrappers.pb.h"
#include "runtime/host/endpoint.h"
#include "runtime/status_details.h"
#include "runtime/wire/call_failure.h"
#include "runtime/worker_crash.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::codegen::MethodInfo;
using iw::codegen::ServiceInfo;
using iw::internal::CallAttempts;
using iw::internal::RetryPolicy;
using iw::testing::StatusIs;

constexpr MethodInfo kMethods[] = {
    {"Reject", "/t.R/Reject"},
    {"Retry", "/t.R/Retry", /*timeout_ms=*/0, /*on_deadline=*/0, /*deadline_grace_ms=*/-1,
     /*on_crash=*/1, /*max_attempts=*/0},
    {"RetryTwice", "/t.R/RetryTwice", 0, 0, -1, /*on_crash=*/1, /*max_attempts=*/2},
};
constexpr ServiceInfo kService = {"t.R", kMethods, 3};

absl::Status Death(const char* message) {
  absl::Status status = absl::UnavailableError(message);
  iw::WorkerCrash crash;
  crash.set_cause(iw::WorkerCrash::EXITED);
  iw::AttachDetails(status, crash);
  return status;
}

TEST_CASE("RetryPolicy: attempts come from the .proto, and the host's overrides win",
          "[runtime][retry]") {
  RetryPolicy proto(kService, {});
  CHECK(proto.MaxAttempts(0) == 1);  // kReject: one attempt
  CHECK(proto.MaxAttempts(1) == 3);  // kRetry, max_attempts unset: 3
  CHECK(proto.MaxAttempts(2) == 2);

  std::vector<iw::MethodOverrides> overrides(3);
  overrides[0].on_crash = iw::CrashPolicy::kRetry;
  overrides[0].max_attempts = 5;
  overrides[1].on_crash = iw::CrashPolicy::kReject;
  overrides[2].max_attempts = 0;  // at least the first attempt
  RetryPolicy host(kService, overrides);
  CHECK(host.MaxAttempts(0) == 5);
  CHECK(host.MaxAttempts(1) == 1);
  CHECK(host.MaxAttempts(2) == 1);
}

TEST_CASE(
    "RetryPolicy: a call runs again only if its worker died, attempts are left, it was "
    "not cancelled and its deadline is ahead",
    "[runtime][retry]") {
  RetryPolicy policy(kService, {});
  google::protobuf::Int64Value response;
  const absl::Time later = absl::Now() + absl::Hours(1);

  CallAttempts call = policy.Begin(2, later);
  CHECK(call.max_attempts == 2);
  response.set_value(1);
  absl::Status status = Death("t.R.RetryTwice: worker W#1 crashed");
  CHECK(policy.NextAttempt(call, /*died=*/true, /*may_retry=*/true, "W#1", &response, &status));
  CHECK(call.attempt == 2);
  CHECK(response.value() == 0);  // cleared for the next attempt
  status = Death("t.R.RetryTwice: worker W#2 crashed");
  CHECK_FALSE(policy.NextAttempt(call, true, true, "W#2", &response, &status));
  CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                              "t.R.RetryTwice: worker W#2 crashed (attempt 2 of 2)"));
  std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
  REQUIRE(crash.has_value());
  CHECK(crash->method() == "t.R.RetryTwice");
  CHECK(crash->attempt() == 2);
  CHECK(crash->max_attempts() == 2);

  SECTION("a failure that is not a death is final, as is") {
    CallAttempts fresh = policy.Begin(2, later);
    absl::Status failed = absl::InvalidArgumentError("bad input");
    CHECK_FALSE(policy.NextAttempt(fresh, false, true, "W#1", &response, &failed));
    CHECK(failed == absl::InvalidArgumentError("bad input"));
  }
  SECTION("a cancelled call is not run again") {
    CallAttempts fresh = policy.Begin(2, later);
    absl::Status died = Death("t.R.RetryTwice: worker W#1 crashed");
    CHECK_FALSE(policy.NextAttempt(fresh, true, /*may_retry=*/false, "W#1", &response, &died));
    CHECK_THAT(died, StatusIs(absl::StatusCode::kUnavailable, "(attempt 1 of 2)"));
  }
  SECTION("nor one past its deadline") {
    CallAttempts late = policy.Begin(2, absl::Now() - absl::Seconds(1));
    absl::Status died = Death("t.R.RetryTwice: worker W#1 crashed");
    CHECK_FALSE(policy.NextAttempt(late, true, true, "W#1", &response, &died));
    CHECK_THAT(died, StatusIs(absl::StatusCode::kUnavailable, "(attempt 1 of 2)"));
  }
  SECTION("under kReject a death is final without attempt numbers in the message") {
    CallAttempts once = policy.Begin(0, later);
    absl::Status died = Death("t.R.Reject: worker W#1 crashed");
    CHECK_FALSE(policy.NextAttempt(once, true, true, "W#1", &response, &died));
    CHECK(died.message() == "t.R.Reject: worker W#1 crashed");
    CHECK(iw::WorkerCrashOf(died)->max_attempts() == 1);
  }
}

TEST_CASE(
    "RetryPolicy: the attempt goes before the worker's stderr tail, and the internal "
    "call-lost cause never leaves the pool",
    "[runtime][retry]") {
  RetryPolicy policy(kService, {});
  // As an endpoint reports a call lost with one of its workers: the cause and
  // the description as data.
  absl::Status lost = iw::internal::CallFailed(
      absl::StatusCode::kUnavailable, iw::internal::FailureCause::kCallLost, "t.R.Retry",
      {"worker W#1 crashed: exit code 3", "; last stderr lines:\nboom"});
  absl::Status concluded = policy.Conclude(1, 3, 3, /*died=*/true, lost);
  CHECK(concluded.message() ==
        "t.R.Retry: worker W#1 crashed: exit code 3 (attempt 3 of 3); last stderr lines:\nboom");
  CHECK(iw::internal::CauseOf(concluded) == iw::internal::FailureCause::kNone);
  CHECK_FALSE(iw::internal::DescriptionOf(concluded).has_value());

  // The description is data; without one, the message as it is.
  CHECK(iw::internal::DescriptionOrMessage(lost).what == "worker W#1 crashed: exit code 3");
  CHECK(iw::internal::DescriptionOrMessage(absl::UnavailableError("no description")).what ==
        "no description");
}

TEST_CASE(
    "RetryPolicy: a pool-level failure names the method, and its crash payload the "
    "attempts",
    "[runtime][retry]") {
  RetryPolicy policy(kService, {});
  absl::Status status = policy.ForMethod(Death("could not start"), 1);
  CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "t.R.Retry: could not start"));
  std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
  REQUIRE(crash.has_value());
  CHECK(crash->method() == "t.R.Retry");
  CHECK(crash->attempt() == 1);
  CHECK(crash->max_attempts() == 3);
}

}  // namespace
