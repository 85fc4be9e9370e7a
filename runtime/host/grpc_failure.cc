#include "runtime/host/grpc_failure.h"

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/metadata.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/status_conversion.h"
#include "runtime/worker/overrun_watchdog.h"

namespace iw::internal {
namespace {

// The size and the limit of a message gRPC refused to receive, from its
// words "Received message larger than max (<size> vs. <limit>)": the size
// it refused is nowhere else. This is the one place where the runtime reads
// a status message, and only one gRPC wrote.
std::optional<std::pair<uint64_t, int64_t>> ReceivedOverLimit(absl::string_view message) {
  if (!absl::ConsumePrefix(&message, "Received message larger than max (") ||
      !absl::ConsumeSuffix(&message, ")")) {
    return std::nullopt;
  }
  const std::vector<absl::string_view> numbers = absl::StrSplit(message, " vs. ");
  uint64_t size;
  int64_t limit;
  if (numbers.size() != 2 || !absl::SimpleAtoi(numbers[0], &size) ||
      !absl::SimpleAtoi(numbers[1], &limit)) {
    return std::nullopt;
  }
  return std::make_pair(size, limit);
}

}  // namespace

void PrepareGrpcCall(const CallTiming& timing, grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(timing.deadline));
  if (timing.replace_after) {
    context->AddMetadata(kReplaceAfterMetadata,
                         absl::StrCat(absl::ToInt64Milliseconds(*timing.replace_after)));
  }
  if (!timing.request_id.empty()) {
    context->AddMetadata(kRequestIdMetadataKey, timing.request_id);
  }
  if (timing.request_metadata != nullptr) {
    for (const auto& [key, value] : *timing.request_metadata) context->AddMetadata(key, value);
  }
}

bool StatusFromWorker(const grpc::ClientContext& context) {
  const auto& trailing = context.GetServerTrailingMetadata();
  return trailing.find(kWorkerStatusMetadata) != trailing.end();
}

absl::Status FromGrpcCall(const grpc::Status& status, bool from_worker, absl::string_view method,
                          size_t request_size, int max_request) {
  absl::Status result = FromGrpcStatus(status);
  if (from_worker) return TrustedFromWorker(std::move(result));
  result = WithoutInternalPayloads(std::move(result));
  switch (status.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return WithCause(std::move(result), FailureCause::kCallDeadline);
    case grpc::StatusCode::UNAVAILABLE:
      return WithCause(std::move(result), FailureCause::kTransportFailed);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      if (max_request >= 0 && request_size > static_cast<size_t>(max_request)) {
        return MessageTooLarge(FailureCause::kRequestTooLarge, method, request_size, max_request);
      }
      if (auto received = ReceivedOverLimit(status.error_message())) {
        return MessageTooLarge(FailureCause::kReplyTooLarge, method, received->first,
                               received->second);
      }
      return result;
    default:
      return result;
  }
}

}  // namespace iw::internal
