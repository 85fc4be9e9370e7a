// Message size limits from (iw.service) max_request_bytes /
// max_response_bytes (LimitsService: 1024 / 2048) and the host's overrides.
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "catch2/catch.hpp"
#include "tests/hardening/limits_service.iw.h"
#include "tests/testing/carrier.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::StatusIs;
using iwtest::LimitsServiceHost;

iw::WorkerOptions Options() {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = iw::testing::RunfilePath("tests/hardening/limits_worker");
  return options;
}

std::unique_ptr<LimitsServiceHost> Spawn(iw::WorkerOptions options = Options()) {
  auto host = LimitsServiceHost::Spawn(std::move(options));
  REQUIRE_THAT(host.status(), IsOk());
  return std::move(*host);
}

absl::StatusOr<iwtest::SizedReply> Call(LimitsServiceHost& host, int request_bytes,
                                        int reply_bytes) {
  iwtest::SizedRequest request;
  request.set_payload(std::string(static_cast<size_t>(request_bytes), 'q'));
  request.set_reply_bytes(reply_bytes);
  iw::CallOptions call;
  call.timeout = absl::Seconds(10);
  return host.Sized(request, call);
}

TEST_CASE("Message limits: messages within the .proto limits pass", "[hardening][e2e]") {
  {
    auto host = Spawn();
    absl::StatusOr<iwtest::SizedReply> reply = Call(*host, 1000, 2000);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->payload().size() == 2000);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Message limits: an oversized request fails RESOURCE_EXHAUSTED naming the size "
    "and the limit; the worker keeps serving",
    "[hardening][e2e]") {
  {
    auto host = Spawn();
    const int pid = host->pid();
    // 2000 bytes of payload + reply_bytes: a 2005-byte message.
    absl::Status status = Call(*host, 2000, 10).status();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted,
                                "iwtest.LimitsService.Sized: the request is over the message "
                                "size limit (2005 vs. 1024) bytes"));
    CHECK_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted, "1024"));
    CHECK_THAT(Call(*host, 10, 10).status(), IsOk());
    CHECK(host->pid() == pid);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Message limits: an oversized reply fails RESOURCE_EXHAUSTED naming the size "
    "and the limit; the worker keeps serving",
    "[hardening][e2e]") {
  {
    auto host = Spawn();
    const int pid = host->pid();
    absl::Status status = Call(*host, 10, 3000).status();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted, "3003 bytes"));
    CHECK_THAT(status,
               StatusIs(absl::StatusCode::kResourceExhausted, "over the limit of 2048 bytes"));
    // Named like every other message of ours, not by its gRPC path.
    CHECK_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted,
                                "iwtest.LimitsService.Sized: the iwtest.SizedReply reply is "
                                "3003 bytes"));
    CHECK_FALSE(absl::StrContains(status.message(), "/iwtest.LimitsService/Sized"));
    CHECK_THAT(Call(*host, 10, 2000).status(), IsOk());
    CHECK(host->pid() == pid);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Message limits: the host's max_response_bytes override is stricter than the "
    ".proto",
    "[hardening][e2e]") {
  {
    iw::WorkerOptions options = Options();
    options.max_response_bytes = 1000;
    options.max_request_bytes = 500;
    auto host = Spawn(options);
    absl::Status reply_status = Call(*host, 10, 1500).status();
    CHECK_THAT(reply_status, StatusIs(absl::StatusCode::kResourceExhausted, "1000"));
    // The message names the option that sets the limit.
    CHECK_THAT(reply_status, StatusIs(absl::StatusCode::kResourceExhausted,
                                      "iwtest.LimitsService.Sized: the reply is over the "
                                      "message size limit"));
    CHECK_THAT(reply_status,
               StatusIs(absl::StatusCode::kResourceExhausted, "see max_response_bytes"));
    absl::Status request_status = Call(*host, 800, 10).status();
    CHECK_THAT(request_status, StatusIs(absl::StatusCode::kResourceExhausted, "500"));
    CHECK_THAT(request_status,
               StatusIs(absl::StatusCode::kResourceExhausted, "see max_request_bytes"));
    CHECK_THAT(Call(*host, 100, 900).status(), IsOk());
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

}  // namespace
