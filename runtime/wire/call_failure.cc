#include "runtime/wire/call_failure.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "runtime/wire/control_protocol.h"

namespace iw::internal {
namespace {

// One byte: the FailureCause.
constexpr char kCauseUrl[] = "type.isolated-workers.internal/FailureCause";
// FailureDescription::what and ::stderr_tail, verbatim.
constexpr char kWhatUrl[] = "type.isolated-workers.internal/FailureWhat";
constexpr char kStderrTailUrl[] = "type.isolated-workers.internal/FailureStderrTail";

}  // namespace

absl::Status WithCause(absl::Status status, FailureCause cause) {
  if (status.ok()) return status;
  if (cause == FailureCause::kNone) {
    status.ErasePayload(kCauseUrl);
  } else {
    status.SetPayload(kCauseUrl, absl::Cord(std::string(1, static_cast<char>(cause))));
  }
  return status;
}

FailureCause CauseOf(const absl::Status& status) {
  auto payload = status.GetPayload(kCauseUrl);
  if (!payload.has_value() || payload->size() != 1) return FailureCause::kNone;
  const auto value = static_cast<uint8_t>(std::string(*payload)[0]);
  if (value > static_cast<uint8_t>(FailureCause::kWorkerClosed)) return FailureCause::kNone;
  return static_cast<FailureCause>(value);
}

absl::Status CallFailed(absl::StatusCode code, FailureCause cause, absl::string_view method,
                        FailureDescription description) {
  absl::Status status(code, absl::StrCat(method, ": ", description.what, description.stderr_tail));
  status.SetPayload(kWhatUrl, absl::Cord(std::move(description.what)));
  if (!description.stderr_tail.empty()) {
    status.SetPayload(kStderrTailUrl, absl::Cord(std::move(description.stderr_tail)));
  }
  return WithCause(std::move(status), cause);
}

std::optional<FailureDescription> DescriptionOf(const absl::Status& status) {
  auto what = status.GetPayload(kWhatUrl);
  if (!what.has_value()) return std::nullopt;
  FailureDescription description;
  description.what = std::string(*what);
  if (auto tail = status.GetPayload(kStderrTailUrl)) {
    description.stderr_tail = std::string(*tail);
  }
  return description;
}

absl::Status WithSuffix(const absl::Status& status, absl::string_view method,
                        absl::string_view suffix) {
  if (status.ok()) return status;
  std::optional<FailureDescription> description = DescriptionOf(status);
  absl::Status result(status.code(), description.has_value()
                                         ? absl::StrCat(method, ": ", description->what, suffix,
                                                        description->stderr_tail)
                                         : absl::StrCat(status.message(), suffix));
  status.ForEachPayload([&result](absl::string_view type_url, const absl::Cord& payload) {
    result.SetPayload(type_url, payload);
  });
  if (description.has_value()) {
    result.SetPayload(kWhatUrl, absl::Cord(absl::StrCat(description->what, suffix)));
  }
  return result;
}

absl::Status MessageTooLarge(FailureCause which, absl::string_view method, uint64_t size,
                             int64_t limit) {
  const bool request = which == FailureCause::kRequestTooLarge;
  return WithCause(absl::ResourceExhaustedError(absl::StrCat(
                       method, ": the ", request ? "request" : "reply",
                       " is over the message size limit (", size, " vs. ", limit, ") bytes; see ",
                       request ? "max_request_bytes" : "max_response_bytes")),
                   which);
}

absl::Status DeadlinePassedInWorker() {
  return WithCause(absl::DeadlineExceededError(kDeadlinePassedInWorker),
                   FailureCause::kCallDeadline);
}

absl::Status TrustedFromWorker(absl::Status status) {
  const FailureCause cause = CauseOf(status);
  status = WithoutInternalPayloads(std::move(status));
  if (cause == FailureCause::kCallDeadline || cause == FailureCause::kReplyTooLarge) {
    status = WithCause(std::move(status), cause);
  }
  return status;
}

absl::Status WithoutInternalPayloads(absl::Status status) {
  status.ErasePayload(kCauseUrl);
  status.ErasePayload(kWhatUrl);
  status.ErasePayload(kStderrTailUrl);
  return status;
}

}  // namespace iw::internal
