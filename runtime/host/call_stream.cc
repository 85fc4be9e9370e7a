#include "runtime/host/call_stream.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/call_stream_protocol.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/status_conversion.h"

namespace iw::internal {
CallStream::CallStream(std::shared_ptr<grpc::Channel> channel, size_t max_batch_bytes)
    : channel_(std::move(channel)), queue_(max_batch_bytes) {}

std::shared_ptr<CallStream> CallStream::Open(std::shared_ptr<grpc::Channel> channel,
                                             const codegen::ServiceInfo& service,
                                             size_t max_batch_bytes, int64_t max_reply_bytes) {
  std::shared_ptr<CallStream> stream(new CallStream(std::move(channel), max_batch_bytes));
  stream->weak_self_ = stream;
  stream->context_.AddMetadata(kCallStreamVersionKey, kCallStreamVersion);
  stream->context_.AddMetadata(kCallStreamMaxReplyKey, absl::StrCat(max_reply_bytes));
  {
    absl::MutexLock lock(&stream->mu_);
    stream->self_ = stream;
    stream->writing_ = true;
  }
  // The first batch: the method table that later calls index into.
  for (int i = 0; i < service.method_count; ++i) {
    stream->out_.add_method_paths(service.methods[i].path);
  }
  grpc::internal::ClientCallbackReaderWriterFactory<CallBatch, ReplyBatch>::Create(
      stream->channel_.get(),
      grpc::internal::RpcMethod(kCallStreamMethod, grpc::internal::RpcMethod::BIDI_STREAMING),
      &stream->context_, stream.get());
  stream->AddHold();
  stream->StartWrite(&stream->out_);
  stream->StartRead(&stream->in_);
  stream->StartCall();
  return stream;
}

uint64_t CallStream::Start(int method_index, std::string* request, const CallTiming& timing,
                           bool arm_deadline, Done* done) {
  if (!ready() || request->size() > kStreamMaxRequestBytes) return 0;
  StreamCall call;
  if (timing.deadline != absl::InfiniteFuture()) {
    const int64_t left_us = absl::ToInt64Microseconds(timing.deadline - absl::Now());
    // Expired: the unary path reports it exactly as gRPC would.
    if (left_us <= 0) return 0;
    call.set_timeout_us(static_cast<uint64_t>(left_us));
  }
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  call.set_id(id);
  call.set_method(static_cast<uint32_t>(method_index));
  *call.mutable_request() = std::move(*request);
  if (timing.replace_after) {
    call.set_replace_after_ms_plus_one(static_cast<uint64_t>(std::max<int64_t>(
                                           0, absl::ToInt64Milliseconds(*timing.replace_after))) +
                                       1);
  }
  if (!timing.request_id.empty()) call.set_request_id(timing.request_id);
  if (timing.request_metadata != nullptr) {
    for (const auto& [key, value] : *timing.request_metadata) {
      StreamMetadataEntry* entry = call.add_metadata();
      entry->set_key(key);
      entry->set_value(value);
    }
  }
  const size_t size = call.ByteSizeLong() + kEntryFraming;

  bool start_write;
  {
    absl::MutexLock lock(&mu_);
    if (!ready() || closing_ || stopping_ || size > queue_.max_batch_bytes()) {
      *request = std::move(*call.mutable_request());  // for the unary call
      return 0;
    }
    pending_[id].done = std::move(*done);
    start_write = EnqueueLocked(std::move(call), size);
  }
  if (arm_deadline && timing.deadline != absl::InfiniteFuture()) {
    DeadlineTimer::Handle timer =
        DeadlineTimer::Get().Schedule(timing.deadline, [weak = weak_self_, id] {
          if (std::shared_ptr<CallStream> stream = weak.lock()) {
            stream->Abandon(id, WithCause(absl::DeadlineExceededError("deadline passed"),
                                          FailureCause::kCallDeadline));
          }
        });
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it != pending_.end()) {
      it->second.timer = timer;
    } else {
      DeadlineTimer::Get().Cancel(timer);  // the reply came first
    }
  }
  if (start_write) StartWrite(&out_);
  return id;
}

bool CallStream::EnqueueLocked(StreamCall call, size_t size) {
  *queue_.For(size).add_calls() = std::move(call);
  return TakeNextBatchLocked();
}

void CallStream::CancelLocked(uint64_t id) {
  if (stopping_ || writes_done_) return;
  queue_.For(kEntryFraming).add_cancelled_ids(id);
}

bool CallStream::TakeNextBatchLocked() {
  if (writing_ || queue_.empty() || stopping_ || writes_done_) return false;
  out_ = queue_.TakeFront();
  writing_ = true;
  return true;
}

void CallStream::Abandon(uint64_t id, absl::Status status) {
  Pending pending;
  bool start_write;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;  // answered already
    pending = std::move(it->second);
    pending_.erase(it);
    CancelLocked(id);
    start_write = TakeNextBatchLocked();
  }
  if (start_write) StartWrite(&out_);
  DeadlineTimer::Get().Cancel(pending.timer);
  pending.done(Reply{std::move(status), {}, {}});
}

void CallStream::Close(absl::Duration patience) {
  bool writes_done = false;
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    ready_.store(false, std::memory_order_release);
    // With a write in flight, OnWriteDone() half-closes once the calls
    // already queued are written.
    if (!stopping_ && !writing_ && !writes_done_) {
      writes_done_ = true;
      starting_writes_done_ = true;
      writes_done = true;
    }
  }
  if (writes_done) HalfClose();
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return self_ == nullptr; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ended), patience)) {
    mu_.Unlock();
    context_.TryCancel();
    mu_.Lock();
    mu_.Await(absl::Condition(&ended));
  }
}

void CallStream::HalfClose() {
  StartWritesDone();
  {
    absl::MutexLock lock(&mu_);
    starting_writes_done_ = false;
  }
  Stop();
}

bool CallStream::TakeHoldLocked() {
  if (!stopping_ || writing_ || starting_writes_done_ || hold_removed_) return false;
  hold_removed_ = true;
  return true;
}

void CallStream::Stop() {
  bool remove_hold;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    ready_.store(false, std::memory_order_release);
    remove_hold = TakeHoldLocked();
  }
  if (remove_hold) RemoveHold();
}

bool CallStream::WaitReady(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto answered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return answered_ || stopping_; };
  mu_.AwaitWithDeadline(absl::Condition(&answered), deadline);
  return ready();
}

void CallStream::OnReadInitialMetadataDone(bool ok) {
  if (!ok) {
    Stop();
    return;
  }
  const auto& metadata = context_.GetServerInitialMetadata();
  auto it = metadata.find(kCallStreamVersionKey);
  const bool accepted = it != metadata.end() && it->second == kCallStreamVersion;
  absl::MutexLock lock(&mu_);
  answered_ = true;
  if (accepted && !stopping_ && !closing_) ready_.store(true, std::memory_order_release);
}

void CallStream::OnReadDone(bool ok) {
  if (!ok) {  // the stream is ending: OnDone() follows
    Stop();
    return;
  }
  std::vector<std::pair<Pending, StreamReply*>> answered;
  answered.reserve(in_.replies_size());
  {
    absl::MutexLock lock(&mu_);
    for (StreamReply& reply : *in_.mutable_replies()) {
      auto it = pending_.find(reply.id());
      if (it == pending_.end()) continue;  // abandoned: its answer is moot
      answered.emplace_back(std::move(it->second), &reply);
      pending_.erase(it);
    }
  }
  for (auto& [pending, reply] : answered) {
    DeadlineTimer::Get().Cancel(pending.timer);
    Reply result;
    if (reply->code() != 0) {
      result.status = TrustedFromWorker(
          FromStatusFields(static_cast<int>(reply->code()), reply->message(), reply->details()));
    }
    result.response = std::move(*reply->mutable_response());
    result.worker_us = reply->worker_us();
    for (StreamMetadataEntry& entry : *reply->mutable_metadata()) {
      result.metadata.emplace(std::move(*entry.mutable_key()), std::move(*entry.mutable_value()));
    }
    pending.done(std::move(result));
  }
  in_.Clear();
  StartRead(&in_);
}

void CallStream::OnWriteDone(bool ok) {
  bool start_write = false;
  bool writes_done = false;
  bool remove_hold = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      // The stream broke: OnDone() follows once the hold is gone.
      stopping_ = true;
      ready_.store(false, std::memory_order_release);
    }
    start_write = TakeNextBatchLocked();
    if (!start_write && closing_ && !writes_done_ && !stopping_) {
      writes_done_ = true;
      starting_writes_done_ = true;
      writes_done = true;
    }
    // The hold outlives a StartWritesDone() issued here.
    if (!writes_done) remove_hold = TakeHoldLocked();
  }
  if (start_write) StartWrite(&out_);
  if (writes_done) HalfClose();
  if (remove_hold) RemoveHold();
}

void CallStream::OnDone(const grpc::Status& status) {
  std::shared_ptr<CallStream> keep_alive;
  absl::flat_hash_map<uint64_t, Pending> orphans;
  {
    absl::MutexLock lock(&mu_);
    ready_.store(false, std::memory_order_release);
    orphans.swap(pending_);
    queue_.Clear();
  }
  const std::string why =
      status.ok() ? "the worker ended it" : absl::StrCat(status.error_message());
  for (auto& [id, pending] : orphans) {
    DeadlineTimer::Get().Cancel(pending.timer);
    pending.done(Reply{WithCause(absl::UnavailableError(absl::StrCat("call stream closed: ", why)),
                                 FailureCause::kTransportFailed),
                       {},
                       {}});
  }
  absl::MutexLock lock(&mu_);
  keep_alive = std::move(self_);  // released after the unlock
}

}  // namespace iw::internal
