#include "runtime/host/pool_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/middleware_chain.h"
#include "runtime/common/timeouts.h"
#include "runtime/host/call_metrics.h"
#include "runtime/wire/call_failure.h"

namespace iw::internal {

using google::protobuf::MessageLite;

PoolStream::PoolStream(CallAdmission& admission, const RetryPolicy& policy,
                       const std::vector<std::shared_ptr<HostMiddleware>>& middleware,
                       int method_index, CallTiming timing, std::unique_ptr<MessageLite> request,
                       std::string request_id, TraceContext trace)
    : admission_(admission),
      policy_(policy),
      middleware_(middleware),
      method_index_(method_index),
      timing_(std::move(timing)),
      request_(std::move(request)) {
  call_.method = policy_.service().methods[method_index].path;
  call_.request = request_.get();
  call_.request_id = std::move(request_id);
  call_.trace = std::move(trace);
}

PoolStream::~PoolStream() {
  Cancel();
  // Waits until the attempt's end has been handled (its worker given back).
  if (std::shared_ptr<HostStream> attempt = current()) attempt->Finish().IgnoreError();
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return final_.has_value(); };
  mu_.Await(absl::Condition(&ended));
}

void PoolStream::Open() {
  admission_.BeginStream(timing_);
  if (!middleware_.empty() || !call_.trace.empty()) {
    absl::Status status = RunOnRequest(middleware_, call_, &middleware_ran_);
    if (!status.ok()) {
      End(std::move(status));
      return;
    }
    timing_.request_metadata = &call_.request_metadata;
  }
  timing_.request_id = call_.request_id;
  {
    absl::MutexLock lock(&mu_);
    ladder_ = policy_.Begin(method_index_, timing_.deadline);
  }
  OpenAttempt();
}

void PoolStream::OpenAttempt() {
  absl::StatusOr<std::shared_ptr<Supervisor::Slot>> slot =
      admission_.AcquireForStream(method_index_, timing_);
  if (!slot.ok()) {
    End(slot.status());
    return;
  }
  std::shared_ptr<Supervisor::Slot> taken = *std::move(slot);
  absl::StatusOr<std::shared_ptr<HostStream>> opened = taken->worker->OpenStream(
      method_index_, timing_, [this, taken](absl::Status& status) { OnAttemptEnd(taken, status); });
  if (!opened.ok()) {
    admission_.ReleaseFromStream(taken, opened.status(), timing_);
    End(policy_.ForMethod(opened.status(), method_index_));
    return;
  }
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    attempt_ = *opened;
    cancelled = cancelled_;
  }
  if (cancelled) {
    (*opened)->Cancel();
    return;
  }
  if (request_ != nullptr) {
    // A server-streaming call: its one request, then no more.
    (*opened)->Write(*request_);
    (*opened)->CloseWrites();
  }
}

void PoolStream::OnAttemptEnd(const std::shared_ptr<Supervisor::Slot>& slot, absl::Status& status) {
  const bool died = admission_.ReleaseFromStream(slot, status, timing_);
  absl::Status final_status = status;
  {
    absl::MutexLock lock(&mu_);
    // Only a server-streaming call whose responses nobody has seen yet can
    // run again: nothing would be repeated.
    const bool may_retry = request_ != nullptr && read_ == 0 && !cancelled_;
    if (policy_.NextAttempt(ladder_, died, may_retry, slot->id, nullptr, &final_status, &timing_)) {
      if (timing_.metrics != nullptr) timing_.metrics->Retried();
      retry_due_ = true;
      return;
    }
  }
  status = final_status;
  End(std::move(final_status));
}

void PoolStream::End(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (ending_) return;
    ending_ = true;
  }
  const absl::StatusCode code = status.code();  // the metrics' (before middleware)
  if (!middleware_.empty()) {
    if (std::shared_ptr<HostStream> attempt = current()) {
      call_.response_metadata = attempt->response_metadata();
    }
    RunOnResponse(middleware_, call_, middleware_ran_, status);
  }
  status = WithoutInternalPayloads(std::move(status));
  admission_.EndStream(status, code, timing_, opened_);
  absl::MutexLock lock(&mu_);
  final_ = std::move(status);
}

bool PoolStream::RetryIfDue() {
  {
    absl::MutexLock lock(&mu_);
    if (!retry_due_) return false;
    retry_due_ = false;
  }
  OpenAttempt();
  return true;
}

std::shared_ptr<HostStream> PoolStream::current() const {
  absl::MutexLock lock(&mu_);
  return attempt_;
}

bool PoolStream::Write(const MessageLite& message) {
  std::shared_ptr<HostStream> attempt = current();
  return attempt != nullptr && attempt->Write(message);
}

void PoolStream::CloseWrites() {
  if (std::shared_ptr<HostStream> attempt = current()) attempt->CloseWrites();
}

bool PoolStream::Read(MessageLite* message) {
  while (true) {
    std::shared_ptr<HostStream> attempt = current();
    if (attempt != nullptr && attempt->Read(message)) {
      absl::MutexLock lock(&mu_);
      ++read_;
      return true;
    }
    if (!RetryIfDue()) return false;
  }
}

absl::Status PoolStream::Finish() {
  while (true) {
    if (std::shared_ptr<HostStream> attempt = current()) attempt->Finish().IgnoreError();
    if (!RetryIfDue()) break;
  }
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return final_.has_value(); };
  mu_.Await(absl::Condition(&ended));
  return *final_;
}

void PoolStream::Cancel() {
  std::shared_ptr<HostStream> attempt;
  bool end_now = false;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    attempt = attempt_;
    // Between attempts (a retry was due): the stream ends here.
    end_now = std::exchange(retry_due_, false);
  }
  if (attempt != nullptr) attempt->Cancel();
  if (end_now) {
    End(WithCause(
        absl::CancelledError(absl::StrCat(MethodDisplayName(policy_.service(), method_index_),
                                          ": cancelled by the host")),
        FailureCause::kCancelledByHost));
  }
}

int64_t PoolStream::messages_read() const {
  absl::MutexLock lock(&mu_);
  return read_;
}

FailedStream::FailedStream(absl::Status status) : status_(std::move(status)) {}

}  // namespace iw::internal
