#include "runtime/worker/worker_stream_call.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/wire/call_failure.h"

namespace iw::internal {

using google::protobuf::MessageLite;

WorkerStreamCall::WorkerStreamCall(CallContext* context, Carrier* carrier, std::string display_name,
                                   size_t max_request, size_t max_reply)
    : context_(context),
      carrier_(carrier),
      display_name_(std::move(display_name)),
      max_request_(max_request),
      max_reply_(max_reply) {}

bool WorkerStreamCall::Deliver(StreamMessage message) {
  if (message.bytes.size() > max_request_) {
    Fail(MessageTooLarge(FailureCause::kRequestTooLarge, display_name_, message.bytes.size(),
                         static_cast<int64_t>(max_request_)));
    return true;
  }
  return state_.PushMessage(std::move(message)) != StreamState::Push::kOverWindow;
}

void WorkerStreamCall::EndOfRequests() { state_.PushEndOfInput(); }

void WorkerStreamCall::GrantCredit(int n) { state_.AddCredit(n); }

void WorkerStreamCall::Cancel() {
  context_->MarkCancelled();
  state_.End(absl::CancelledError(absl::StrCat(display_name_, ": cancelled")),
             /*keep_queued=*/false);
}

void WorkerStreamCall::Fail(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (failure_.ok()) failure_ = status;
  }
  // The handler must stop: nothing it does now reaches the host.
  context_->MarkCancelled();
  state_.End(std::move(status), /*keep_queued=*/false);
}

bool WorkerStreamCall::Read(MessageLite* message) {
  StreamMessage next;
  StreamState::Grant grant;
  if (state_.Pop(context_->deadline(), &next, &grant) != StreamState::Next::kMessage) return false;
  const bool parsed =
      message->ParseFromArray(next.bytes.data(), static_cast<int>(next.bytes.size()));
  next = StreamMessage();
  if (!parsed) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat(display_name_, ": malformed request: not a valid ", message->GetTypeName())));
    return false;
  }
  if (grant.messages > 0) carrier_->Consumed(grant.messages, grant.bytes);
  return true;
}

bool WorkerStreamCall::Write(const MessageLite& message) {
  if (state_.ended() || context_->IsCancelled()) return false;
  const size_t size = message.ByteSizeLong();
  if (size > max_reply_) {
    Fail(MessageTooLarge(FailureCause::kReplyTooLarge, display_name_, size,
                         static_cast<int64_t>(max_reply_)));
    return false;
  }
  if (state_.TakeCredit(context_->deadline(), size) != StreamState::Credit::kGranted) {
    return false;
  }
  if (!carrier_->Send(message)) {
    Cancel();
    return false;
  }
  return true;
}

absl::Status WorkerStreamCall::failure() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

}  // namespace iw::internal
