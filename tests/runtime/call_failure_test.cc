// The cause of a failed call as a value: set where our code produces the
// failure (call_failure.h), classified once where a gRPC call returns
// (grpc_failure.h), never read back from a message.
#include "runtime/wire/call_failure.h"

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "catch2/catch.hpp"
#include "runtime/host/grpc_failure.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/status_conversion.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::internal::CallFailed;
using iw::internal::CauseOf;
using iw::internal::DescriptionOf;
using iw::internal::FailureCause;
using iw::internal::FailureDescription;
using iw::internal::FromGrpcCall;
using iw::internal::FromGrpcStatus;
using iw::internal::MessageTooLarge;
using iw::internal::ToGrpcStatus;
using iw::internal::TrustedFromWorker;
using iw::internal::WithCause;
using iw::internal::WithoutInternalPayloads;
using iw::internal::WithSuffix;
using iw::testing::StatusIs;

constexpr char kMethod[] = "t.S.M";
constexpr char kUserDetailUrl[] = "type.googleapis.com/t.Detail";

// What a worker's status looks like once it crossed gRPC to the host.
grpc::Status OverTheWire(const absl::Status& status) { return ToGrpcStatus(status); }

TEST_CASE("Call failures: a cause set on a status is read back as the same value",
          "[runtime][call_failure]") {
  for (FailureCause cause :
       {FailureCause::kCallDeadline, FailureCause::kRequestTooLarge, FailureCause::kReplyTooLarge,
        FailureCause::kCancelledByHost, FailureCause::kTransportFailed, FailureCause::kWorkerDied,
        FailureCause::kConnectionLost, FailureCause::kCallLost, FailureCause::kWorkerClosed}) {
    absl::Status status = WithCause(absl::UnavailableError("m"), cause);
    CHECK(CauseOf(status) == cause);
    CHECK(status.message() == "m");
  }
  CHECK(CauseOf(absl::UnavailableError("no cause")) == FailureCause::kNone);
  CHECK(WithCause(absl::OkStatus(), FailureCause::kCallDeadline).ok());
}

TEST_CASE("Call failures: the cause does not depend on the message", "[runtime][call_failure]") {
  // A handler may use any words, gRPC's and ours included.
  CHECK(CauseOf(absl::DeadlineExceededError("Deadline Exceeded")) == FailureCause::kNone);
  CHECK(CauseOf(absl::DeadlineExceededError(iw::internal::kDeadlinePassedInWorker)) ==
        FailureCause::kNone);
  CHECK(CauseOf(absl::ResourceExhaustedError("Received message larger than max (5 vs. 1)")) ==
        FailureCause::kNone);
  CHECK(CauseOf(iw::internal::DeadlinePassedInWorker()) == FailureCause::kCallDeadline);
  CHECK_THAT(iw::internal::DeadlinePassedInWorker(),
             StatusIs(absl::StatusCode::kDeadlineExceeded, iw::internal::kDeadlinePassedInWorker));
}

TEST_CASE(
    "Call failures: a described failure keeps its description apart from the "
    "method "
    "and the stderr tail",
    "[runtime][call_failure]") {
  absl::Status status =
      CallFailed(absl::StatusCode::kUnavailable, FailureCause::kWorkerDied, kMethod,
                 {"worker S#1 (pid 7) crashed: exit code 3", "; last stderr lines:\n  boom"});
  CHECK(status.message() ==
        "t.S.M: worker S#1 (pid 7) crashed: exit code 3; last stderr lines:\n  "
        "boom");
  CHECK(CauseOf(status) == FailureCause::kWorkerDied);
  auto description = DescriptionOf(status);
  REQUIRE(description.has_value());
  CHECK(description->what == "worker S#1 (pid 7) crashed: exit code 3");
  CHECK(description->stderr_tail == "; last stderr lines:\n  boom");
  CHECK(description->ToString() ==
        "worker S#1 (pid 7) crashed: exit code 3; last stderr lines:\n  boom");

  SECTION("a suffix goes before the tail, which stays the worker's own words") {
    absl::Status suffixed = WithSuffix(status, kMethod, " (attempt 2 of 3)");
    CHECK(suffixed.message() ==
          "t.S.M: worker S#1 (pid 7) crashed: exit code 3 (attempt 2 of 3); "
          "last stderr "
          "lines:\n  boom");
    CHECK(CauseOf(suffixed) == FailureCause::kWorkerDied);
    CHECK(DescriptionOf(suffixed)->what ==
          "worker S#1 (pid 7) crashed: exit code 3 (attempt 2 of 3)");
  }
  SECTION("a status without a description gets the suffix at its end") {
    CHECK(WithSuffix(absl::UnavailableError("handler: busy; last stderr lines: x"), kMethod,
                     " (attempt 1 of 2)")
              .message() == "handler: busy; last stderr lines: x (attempt 1 of 2)");
  }
  CHECK_FALSE(DescriptionOf(absl::UnavailableError("t.S.M: worker gone")).has_value());
}

TEST_CASE(
    "Call failures: the user gets the status without the internal payloads, "
    "with "
    "their own details",
    "[runtime][call_failure]") {
  absl::Status status = CallFailed(absl::StatusCode::kUnavailable, FailureCause::kCallLost, kMethod,
                                   {"connection to worker R#1 failed: reset", "; t"});
  status.SetPayload(kUserDetailUrl, absl::Cord("detail"));
  absl::Status user = WithoutInternalPayloads(status);
  CHECK(user.message() == status.message());
  CHECK(CauseOf(user) == FailureCause::kNone);
  CHECK_FALSE(DescriptionOf(user).has_value());
  int payloads = 0;
  user.ForEachPayload([&payloads](absl::string_view, const absl::Cord&) { ++payloads; });
  CHECK(payloads == 1);
  CHECK(user.GetPayload(kUserDetailUrl).has_value());
}

TEST_CASE("Call failures: a size limit names the message, both sizes and the option",
          "[runtime][call_failure]") {
  CHECK_THAT(MessageTooLarge(FailureCause::kRequestTooLarge, kMethod, 2005, 1024),
             StatusIs(absl::StatusCode::kResourceExhausted,
                      "t.S.M: the request is over the message size limit (2005 vs. 1024) "
                      "bytes; see max_request_bytes"));
  CHECK_THAT(MessageTooLarge(FailureCause::kReplyTooLarge, kMethod, 1503, 1000),
             StatusIs(absl::StatusCode::kResourceExhausted,
                      "t.S.M: the reply is over the message size limit (1503 vs. 1000) "
                      "bytes; see max_response_bytes"));
  CHECK(CauseOf(MessageTooLarge(FailureCause::kReplyTooLarge, kMethod, 1, 0)) ==
        FailureCause::kReplyTooLarge);
}

TEST_CASE(
    "Call failures: a worker's late-reply cause reaches the host over gRPC; "
    "causes a "
    "worker cannot know do not",
    "[runtime][call_failure]") {
  absl::Status late = FromGrpcCall(OverTheWire(iw::internal::DeadlinePassedInWorker()),
                                   /*from_worker=*/true, kMethod, 10, 1024);
  CHECK(CauseOf(late) == FailureCause::kCallDeadline);

  absl::Status too_large =
      FromGrpcCall(OverTheWire(MessageTooLarge(FailureCause::kReplyTooLarge, kMethod, 1503, 1000)),
                   /*from_worker=*/true, kMethod, 10, 1024);
  CHECK(CauseOf(too_large) == FailureCause::kReplyTooLarge);
  CHECK(too_large.message() ==
        "t.S.M: the reply is over the message size limit (1503 vs. 1000) "
        "bytes; see "
        "max_response_bytes");

  // A status that claims a death or a lost call is the handler's own.
  absl::Status forged = CallFailed(absl::StatusCode::kUnavailable, FailureCause::kCallLost, kMethod,
                                   {"connection to worker X failed", ""});
  forged.SetPayload(kUserDetailUrl, absl::Cord("kept"));
  absl::Status trusted = FromGrpcCall(OverTheWire(forged), /*from_worker=*/true, kMethod, 10, 1024);
  CHECK(CauseOf(trusted) == FailureCause::kNone);
  CHECK_FALSE(DescriptionOf(trusted).has_value());
  CHECK(trusted.GetPayload(kUserDetailUrl).has_value());
  CHECK(trusted.message() == forged.message());
  CHECK(CauseOf(TrustedFromWorker(WithCause(
            absl::CancelledError("x"), FailureCause::kCancelledByHost))) == FailureCause::kNone);
}

TEST_CASE(
    "Call failures: a worker's status without a cause keeps its code and "
    "message",
    "[runtime][call_failure]") {
  for (grpc::StatusCode code : {grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::UNAVAILABLE,
                                grpc::StatusCode::RESOURCE_EXHAUSTED}) {
    absl::Status status = FromGrpcCall(grpc::Status(code,
                                                    "Received message larger than max "
                                                    "(5000 vs. 1000)"),
                                       /*from_worker=*/true, kMethod, 5000, 1000);
    CHECK(CauseOf(status) == FailureCause::kNone);
    CHECK(static_cast<int>(status.code()) == static_cast<int>(code));
    CHECK(status.message() == "Received message larger than max (5000 vs. 1000)");
  }
}

TEST_CASE(
    "Call failures: what gRPC produced is classified by its code and what the "
    "host "
    "knows",
    "[runtime][call_failure]") {
  SECTION("its deadline is the call's") {
    absl::Status status =
        FromGrpcCall(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "whatever it says"),
                     /*from_worker=*/false, kMethod, 10, 1024);
    CHECK(CauseOf(status) == FailureCause::kCallDeadline);
  }
  SECTION("its UNAVAILABLE is the transport's, for the endpoint to explain") {
    absl::Status status = FromGrpcCall(grpc::Status(grpc::StatusCode::UNAVAILABLE, "Socket closed"),
                                       /*from_worker=*/false, kMethod, 10, 1024);
    CHECK(CauseOf(status) == FailureCause::kTransportFailed);
    CHECK(status.message() == "Socket closed");
  }
  SECTION(
      "a request over the host's limit is known by its size, whatever gRPC's "
      "words") {
    absl::Status status =
        FromGrpcCall(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "any wording"),
                     /*from_worker=*/false, kMethod, 2005, 1024);
    CHECK(CauseOf(status) == FailureCause::kRequestTooLarge);
    CHECK_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted,
                                "t.S.M: the request is over the message size limit (2005 vs. "
                                "1024) bytes; see max_request_bytes"));
  }
  SECTION("a reply gRPC refused to receive is over the limit it names") {
    absl::Status status =
        FromGrpcCall(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                  "Received message larger than max (70000 vs. 66560)"),
                     /*from_worker=*/false, kMethod, 10, 1024);
    CHECK(CauseOf(status) == FailureCause::kReplyTooLarge);
    CHECK(status.message() ==
          "t.S.M: the reply is over the message size limit (70000 vs. 66560) "
          "bytes; see "
          "max_response_bytes");
  }
  SECTION("another RESOURCE_EXHAUSTED has no cause and stays as it is") {
    absl::Status status = FromGrpcCall(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "Received message larger than"),
        /*from_worker=*/false, kMethod, 10, 1024);
    CHECK(CauseOf(status) == FailureCause::kNone);
    CHECK(status.message() == "Received message larger than");
  }
  SECTION(
      "a CANCELLED has no cause of its own (the endpoint knows whether it "
      "cancelled)") {
    CHECK(CauseOf(FromGrpcCall(grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled"),
                               /*from_worker=*/false, kMethod, 10, 1024)) == FailureCause::kNone);
  }
}

TEST_CASE("Call failures: statuses in a message's fields convert like gRPC's",
          "[runtime][call_failure]") {
  absl::Status status = iw::internal::DeadlinePassedInWorker();
  status.SetPayload(kUserDetailUrl, absl::Cord("d"));
  grpc::Status wire = ToGrpcStatus(status);
  absl::Status back = iw::internal::FromStatusFields(static_cast<int>(wire.error_code()),
                                                     wire.error_message(), wire.error_details());
  CHECK(back == FromGrpcStatus(wire));
  CHECK(back == status);
  CHECK(iw::internal::FromStatusFields(0, "", "").ok());
}

}  // namespace
