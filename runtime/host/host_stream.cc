#include "runtime/host/host_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/timeouts.h"
#include "runtime/host/call_metrics.h"
#include "runtime/wire/call_failure.h"

namespace iw::internal {

using google::protobuf::MessageLite;

HostStream::HostStream(const codegen::ServiceInfo& service, int method_index,
                       const CallTiming& timing, size_t max_request, size_t max_reply)
    : service_(service),
      method_index_(method_index),
      timing_(timing),
      max_request_(max_request),
      max_reply_(max_reply) {}

HostStream::~HostStream() {
  // An unfinished stream is cancelled; its finishers still run once (they
  // release the worker it held).
  if (!state_.ended())
    EndHere(WithCause(absl::CancelledError(absl::StrCat(method(), ": cancelled by the host")),
                      FailureCause::kCancelledByHost));
  Conclude().IgnoreError();
}

std::string HostStream::method() const { return MethodDisplayName(service_, method_index_); }

void HostStream::AddFinisher(Finisher finisher) { finishers_.push_back(std::move(finisher)); }

void HostStream::Start(std::shared_ptr<Carrier> carrier) {
  carrier_ = std::move(carrier);
  if (timing_.deadline == absl::InfiniteFuture()) return;
  std::weak_ptr<HostStream> weak = weak_from_this();
  timer_ = DeadlineTimer::Get().Schedule(timing_.deadline, [weak] {
    if (std::shared_ptr<HostStream> stream = weak.lock()) {
      stream->EndHere(WithCause(
          DeadlineExceeded(stream->service_, stream->method_index_, stream->timing_.timeout),
          FailureCause::kCallDeadline));
    }
  });
}

void HostStream::Fail(absl::Status status) {
  if (state_.End(std::move(status), /*keep_queued=*/false)) Conclude().IgnoreError();
}

bool HostStream::Deliver(StreamMessage message) {
  return state_.PushMessage(std::move(message)) != StreamState::Push::kOverWindow;
}

void HostStream::GrantCredit(int n) { state_.AddCredit(n); }

void HostStream::EndFromWorker(absl::Status status, Metadata metadata) {
  {
    absl::MutexLock lock(&mu_);
    if (state_.ended()) return;
    metadata_ = std::move(metadata);
  }
  if (state_.End(std::move(status), /*keep_queued=*/true)) Conclude().IgnoreError();
}

void HostStream::EndHere(absl::Status status) {
  if (!state_.End(std::move(status), /*keep_queued=*/false)) return;
  if (carrier_ != nullptr) carrier_->Cancel();
  Conclude().IgnoreError();
}

bool HostStream::Write(const MessageLite& message) {
  {
    absl::MutexLock lock(&mu_);
    if (writes_closed_) return false;
  }
  if (state_.ended()) {
    Conclude().IgnoreError();
    return false;
  }
  const size_t size = message.ByteSizeLong();
  if (size > max_request_) {
    EndHere(MessageTooLarge(FailureCause::kRequestTooLarge, method(), size,
                            static_cast<int64_t>(max_request_)));
    Conclude().IgnoreError();
    return false;
  }
  // The deadline's timer ends the stream, which ends this wait too.
  if (state_.TakeCredit(absl::InfiniteFuture(), size) != StreamState::Credit::kGranted) {
    Conclude().IgnoreError();
    return false;
  }
  if (carrier_ == nullptr || !carrier_->Send(message)) return false;
  if (timing_.metrics != nullptr) timing_.metrics->Sent(size);
  return true;
}

void HostStream::CloseWrites() {
  {
    absl::MutexLock lock(&mu_);
    if (writes_closed_) return;
    writes_closed_ = true;
  }
  if (carrier_ != nullptr && !state_.ended()) carrier_->HalfClose();
}

bool HostStream::Read(MessageLite* message) {
  StreamMessage next;
  StreamState::Grant grant;
  if (state_.Pop(absl::InfiniteFuture(), &next, &grant) != StreamState::Next::kMessage) {
    Conclude().IgnoreError();
    return false;
  }
  if (next.bytes.size() > max_reply_) {
    EndHere(MessageTooLarge(FailureCause::kReplyTooLarge, method(), next.bytes.size(),
                            static_cast<int64_t>(max_reply_)));
    Conclude().IgnoreError();
    return false;
  }
  if (!message->ParseFromArray(next.bytes.data(), static_cast<int>(next.bytes.size()))) {
    EndHere(absl::InternalError(
        absl::StrCat(method(), ": the worker's response is not a valid ", message->GetTypeName())));
    Conclude().IgnoreError();
    return false;
  }
  {
    absl::MutexLock lock(&mu_);
    ++read_;
  }
  if (timing_.metrics != nullptr) timing_.metrics->Received(next.bytes.size());
  if (carrier_ != nullptr && grant.messages > 0) carrier_->Consumed(grant.messages, grant.bytes);
  return true;
}

absl::Status HostStream::Finish() {
  CloseWrites();
  if (carrier_ != nullptr && !state_.ended()) carrier_->StopReading();
  // The deadline's timer (if any) ends the stream at the latest.
  state_.AwaitEnd(absl::InfiniteFuture());
  return Conclude();
}

void HostStream::Cancel() {
  EndHere(WithCause(absl::CancelledError(absl::StrCat(method(), ": cancelled by the host")),
                    FailureCause::kCancelledByHost));
}

int64_t HostStream::messages_read() const {
  absl::MutexLock lock(&mu_);
  return read_;
}

Metadata HostStream::response_metadata() const {
  absl::MutexLock lock(&mu_);
  return metadata_;
}

absl::Status HostStream::Conclude() {
  absl::MutexLock once(&conclude_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (concluded_) return final_;
  }
  absl::Status status = state_.status();
  if (timer_.id != 0) DeadlineTimer::Get().Cancel(timer_);
  for (Finisher& finisher : finishers_) finisher(status);
  absl::MutexLock lock(&mu_);
  concluded_ = true;
  final_ = status;
  return status;
}

}  // namespace iw::internal
