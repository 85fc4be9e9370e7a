#include "runtime/host/native_connection.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/timeouts.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/native_frames.h"
#include "runtime/wire/status_conversion.h"

namespace iw::internal {
namespace {

// What a reply frame (of a call or the end of a stream) says: the worker's
// status, as far as the host trusts it, and its user metadata (to
// `*metadata`).
absl::Status StatusOfReply(const ReplyView& reply, Metadata* metadata) {
  for (const auto& [key, value] : reply.metadata) {
    metadata->emplace(std::string(key), std::string(value));
  }
  if (reply.code == 0) return absl::OkStatus();
  return TrustedFromWorker(
      FromStatusFields(static_cast<int>(reply.code), reply.message, std::string(reply.details)));
}

// A caller thread keeps a frame buffer of up to this size between calls
// (larger ones go back to the pool, see FrameBuffer).
constexpr size_t kKeptCallBuffer = 64 << 10;
// Requests up to this size are copied into the call's frame; larger ones
// are written from where they are (a second iovec).
constexpr size_t kCopyRequestBelow = 16 << 10;

FrameBuffer& ThreadCallBuffer() {
  thread_local FrameBuffer buffer;
  return buffer;
}

absl::Status ConnectionEnded(absl::string_view why) {
  return WithCause(absl::UnavailableError(absl::StrCat("connection to the worker ended: ", why)),
                   FailureCause::kTransportFailed);
}

CallFields FieldsOf(uint64_t id, int method_index, const CallTiming& timing) {
  CallFields call;
  call.id = id;
  call.method = static_cast<uint32_t>(method_index);
  if (timing.deadline != absl::InfiniteFuture()) {
    // At least 1 µs: 0 means "no deadline".
    call.timeout_us = static_cast<uint64_t>(
        std::max<int64_t>(1, absl::ToInt64Microseconds(timing.deadline - absl::Now())));
  }
  if (timing.replace_after) {
    call.replace_after_ms_plus_one = static_cast<uint64_t>(std::max<int64_t>(
                                         0, absl::ToInt64Milliseconds(*timing.replace_after))) +
                                     1;
  }
  call.request_id = timing.request_id;
  call.metadata = timing.request_metadata;
  return call;
}

}  // namespace

std::shared_ptr<NativeConnection> NativeConnection::Open(UniqueFd fd,
                                                         const codegen::ServiceInfo& service,
                                                         size_t max_request, size_t max_reply,
                                                         OnViolation on_violation) {
  std::shared_ptr<NativeConnection> connection(new NativeConnection(
      std::move(fd), service, max_request, max_reply, std::move(on_violation)));
  std::vector<absl::string_view> paths;
  paths.reserve(service.method_count);
  for (int i = 0; i < service.method_count; ++i) paths.emplace_back(service.methods[i].path);
  FrameBuffer hello;
  AppendHello(max_request, max_reply, paths, &hello);
  connection->Write(&hello);
  connection->io_ = std::thread([raw = connection.get()] { raw->IoLoop(); });
  return connection;
}

NativeConnection::NativeConnection(UniqueFd fd, const codegen::ServiceInfo& service,
                                   size_t max_request, size_t max_reply, OnViolation on_violation)
    : service_(service),
      max_request_(max_request),
      max_reply_(max_reply),
      on_violation_(std::move(on_violation)),
      socket_(std::move(fd)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      max_body_(std::min<size_t>(max_reply, UINT32_MAX - kFrameFieldsSlack) + kFrameFieldsSlack) {}

NativeConnection::~NativeConnection() { Close(absl::ZeroDuration()); }

bool NativeConnection::usable() const {
  absl::MutexLock lock(&mu_);
  return !broken_ && !closing_;
}

void NativeConnection::WakeReader() {
  const uint64_t one = 1;
  ssize_t ignored = ::write(wake_.get(), &one, sizeof(one));
  (void)ignored;
}

void NativeConnection::Write(FrameBuffer* frames, std::string* tail) {
  switch (socket_.Write(frames, tail)) {
    case FrameSocket::WriteResult::kDone:
    case FrameSocket::WriteResult::kQueued:
      return;
    case FrameSocket::WriteResult::kBlocked: {
      // Whoever reads polls for POLLOUT too; with nobody reading, the I/O
      // thread takes the role for it (IoReadsLocked()).
      WakeReader();
      absl::MutexLock lock(&mu_);
      if (reader_ == Reader::kNone) io_cv_.Signal();
      return;
    }
    case FrameSocket::WriteResult::kBroken:
      Break(ConnectionEnded(socket_.error().message()));
      return;
  }
}

NativeConnection::Reply NativeConnection::Call(int method_index,
                                               const google::protobuf::MessageLite& request,
                                               const CallTiming& timing) {
  if (absl::Now() >= timing.deadline) {
    return Reply{
        WithCause(absl::DeadlineExceededError("deadline passed"), FailureCause::kCallDeadline)};
  }
  SyncWaiter waiter;
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (broken_ || closing_) return Reply{ConnectionEnded("it is closed")};
    id = next_id_++;
    pending_[id].waiter = &waiter;
    sync_waiters_.push_back(&waiter);
  }
  // Serialized straight into the frame: one copy of the request in all.
  FrameBuffer& out = ThreadCallBuffer();
  const size_t size = request.ByteSizeLong();
  char* payload = AppendCall(FieldsOf(id, method_index, timing), size, &out);
  request.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(payload));
  Write(&out);
  out.clear();
  out.ShrinkIfAbove(kKeptCallBuffer);

  absl::MutexLock lock(&mu_);
  bool timed_out = false;
  while (!waiter.answered && !timed_out) {
    if (reader_ == Reader::kNone && !broken_) {
      // Nobody reads: read for ourselves (and whoever else waits).
      reader_ = Reader::kCaller;
      mu_.Unlock();
      timed_out = !ReadOnce(timing.deadline);
      mu_.Lock();
      reader_ = Reader::kNone;
      continue;
    }
    timed_out = waiter.answered_cv.WaitWithDeadline(&mu_, timing.deadline);
  }
  sync_waiters_.erase(std::find(sync_waiters_.begin(), sync_waiters_.end(), &waiter));
  if (reader_ == Reader::kNone) HandOffLocked();
  if (waiter.answered) return std::move(waiter.reply);
  // The deadline passed first: stop waiting, and tell the worker.
  pending_.erase(id);
  mu_.Unlock();
  FrameBuffer cancel;
  AppendCancel(id, &cancel);
  Write(&cancel);
  mu_.Lock();
  return Reply{
      WithCause(absl::DeadlineExceededError("deadline passed"), FailureCause::kCallDeadline)};
}

uint64_t NativeConnection::Start(int method_index, std::string request, const CallTiming& timing,
                                 Done done) {
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (broken_ || closing_) {
      mu_.Unlock();
      done(Reply{ConnectionEnded("it is closed")});
      mu_.Lock();
      return 0;
    }
    id = next_id_++;
    pending_[id].done = std::move(done);
    ++async_pending_;
    // The I/O thread reads for asynchronous calls.
    if (reader_ == Reader::kNone) io_cv_.Signal();
  }
  if (timing.deadline != absl::InfiniteFuture()) {
    std::weak_ptr<NativeConnection> weak = weak_from_this();
    DeadlineTimer::Handle timer = DeadlineTimer::Get().Schedule(timing.deadline, [weak, id] {
      if (std::shared_ptr<NativeConnection> connection = weak.lock()) {
        connection->Abandon(id, WithCause(absl::DeadlineExceededError("deadline passed"),
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
  FrameBuffer& out = ThreadCallBuffer();
  const CallFields fields = FieldsOf(id, method_index, timing);
  if (request.size() < kCopyRequestBelow) {
    char* payload = AppendCall(fields, request.size(), &out);
    if (!request.empty()) std::memcpy(payload, request.data(), request.size());
    Write(&out);
  } else {
    // The request's bytes go out from where they are.
    AppendCall(fields, request.size(), &out);
    out.SetSize(out.size() - request.size());
    Write(&out, &request);
  }
  out.clear();
  out.ShrinkIfAbove(kKeptCallBuffer);
  return id;
}

void NativeConnection::Abandon(uint64_t id, absl::Status status) {
  Pending pending;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.waiter != nullptr) return;  // answered already
    pending = std::move(it->second);
    pending_.erase(it);
    --async_pending_;
  }
  DeadlineTimer::Get().Cancel(pending.timer);
  FrameBuffer cancel;
  AppendCancel(id, &cancel);
  Write(&cancel);
  pending.done(Reply{std::move(status)});
}

bool NativeConnection::IoReadsLocked() const {
  return !broken_ && (async_pending_ > 0 || !streams_.empty() || closing_ || socket_.blocked());
}

void NativeConnection::HandOffLocked() {
  for (SyncWaiter* waiter : sync_waiters_) {
    if (!waiter->answered) {
      waiter->answered_cv.Signal();
      return;
    }
  }
  if (IoReadsLocked() || !completions_.empty()) io_cv_.Signal();
}

void NativeConnection::IoLoop() {
  ::pthread_setname_np(::pthread_self(), "iw-native-io");
  absl::MutexLock lock(&mu_);
  io_id_ = std::this_thread::get_id();
  while (true) {
    while (!stop_io_ && completions_.empty() && !(reader_ == Reader::kNone && IoReadsLocked())) {
      io_cv_.Wait(&mu_);
    }
    if (!completions_.empty()) {
      std::vector<Completion> completions = std::move(completions_);
      completions_.clear();
      mu_.Unlock();
      for (Completion& c : completions) c.done(std::move(c.reply));
      mu_.Lock();
      continue;
    }
    if (stop_io_) return;
    reader_ = Reader::kIo;
    mu_.Unlock();
    ReadOnce(absl::InfiniteFuture());
    mu_.Lock();
    // (Complete() may have handed the role on already.)
    if (reader_ == Reader::kIo) {
      reader_ = Reader::kNone;
      // Blocking callers waiting while we read take the role back.
      if (!IoReadsLocked()) HandOffLocked();
    }
  }
}

bool NativeConnection::ReadOnce(absl::Time deadline) {
  const bool blocked = socket_.blocked();
  struct pollfd fds[2] = {{socket_.fd(), static_cast<short>(POLLIN | (blocked ? POLLOUT : 0)), 0},
                          {wake_.get(), POLLIN, 0}};
  int timeout_ms = -1;
  if (deadline != absl::InfiniteFuture()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    timeout_ms = static_cast<int>(std::min<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), INT32_MAX));
  }
  const int n = ::poll(fds, 2, timeout_ms);
  if (n < 0) {
    if (errno != EINTR) Break(ConnectionEnded(absl::StrCat("poll: ", ::strerror(errno))));
    return true;
  }
  if (n == 0) return absl::Now() < deadline;
  if (fds[1].revents != 0) {
    uint64_t count;
    ssize_t ignored = ::read(wake_.get(), &count, sizeof(count));
    (void)ignored;
  }
  if (blocked && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
    if (socket_.Flush() == FrameSocket::WriteResult::kBroken) {
      Break(ConnectionEnded(socket_.error().message()));
    }
  }
  if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
    std::vector<InFrame> frames;
    absl::Status read = socket_.Read(max_body_, &frames);
    Dispatch(&frames, read);
  }
  return true;
}

void NativeConnection::Dispatch(std::vector<InFrame>* frames, const absl::Status& read) {
  if (frames->empty() && read.ok()) return;
  std::vector<Completion> completions;
  absl::Status violation;
  {
    absl::MutexLock lock(&mu_);
    for (InFrame& frame : *frames) {
      if (frame.kind == FrameKind::kGoAway) {
        absl::StatusOr<std::string> reason = ParseGoAway(frame.body());
        violation = absl::InvalidArgumentError(
            reason.ok() ? absl::StrCat("the worker ended the connection: ", *reason)
                        : std::string(reason.status().message()));
        break;
      }
      if (frame.kind == FrameKind::kResponseMessage) {
        absl::StatusOr<StreamMessageView> message = ParseStreamMessage(frame.kind, frame.body());
        if (!message.ok()) {
          violation = message.status();
          break;
        }
        StreamEvent event;
        violation = FindStreamLocked(message->id, frame.kind, &event.stream);
        if (!violation.ok()) break;
        if (event.stream == nullptr) continue;
        event.kind = frame.kind;
        event.message.bytes = message->payload;  // stays valid: the storage moves
        event.message.owner = std::make_shared<InFrame>(std::move(frame));
        if (!PushStreamEventUnlocked(std::move(event))) {
          violation = absl::InvalidArgumentError(
              absl::StrCat("a response message of stream ", message->id, " beyond its credit of ",
                           kStreamWindow, " messages or ", kStreamWindowBytes, " bytes unread"));
          break;
        }
        continue;
      }
      if (frame.kind == FrameKind::kRequestCredit) {
        absl::StatusOr<CreditView> credit = ParseCredit(frame.kind, frame.body());
        if (!credit.ok()) {
          violation = credit.status();
          break;
        }
        StreamEvent event;
        violation = FindStreamLocked(credit->id, frame.kind, &event.stream);
        if (!violation.ok()) break;
        if (event.stream == nullptr) continue;
        event.kind = frame.kind;
        event.credit = static_cast<int>(credit->n);
        PushStreamEventUnlocked(std::move(event));
        continue;
      }
      if (frame.kind != FrameKind::kReply) {
        violation = absl::InvalidArgumentError(
            absl::StrCat("a ", FrameKindName(frame.kind), " frame came from the worker"));
        break;
      }
      absl::StatusOr<ReplyView> reply = ParseReply(frame.body());
      if (!reply.ok()) {
        violation = reply.status();
        break;
      }
      if (reply->id >= next_id_) {
        violation = absl::InvalidArgumentError(
            absl::StrCat("a reply to call ", reply->id, ", which was never sent"));
        break;
      }
      if (auto open = streams_.find(reply->id); open != streams_.end()) {
        // The end of a stream.
        if (!reply->payload.empty()) {
          violation =
              absl::InvalidArgumentError(absl::StrCat("the end of stream ", reply->id, " carries ",
                                                      reply->payload.size(), " bytes of message"));
          break;
        }
        StreamEvent event;
        event.stream = open->second.lock();
        streams_.erase(open);
        if (event.stream == nullptr) continue;
        event.kind = FrameKind::kReply;
        event.status = StatusOfReply(*reply, &event.metadata);
        PushStreamEventUnlocked(std::move(event));
        continue;
      }
      auto it = pending_.find(reply->id);
      if (it == pending_.end()) continue;  // abandoned (deadline, cancel)
      Reply result;
      result.status = StatusOfReply(*reply, &result.metadata);
      result.payload = reply->payload;  // stays valid: the storage moves, not the bytes
      result.worker_us = reply->worker_us;
      result.frame = std::move(frame);
      Pending pending = std::move(it->second);
      pending_.erase(it);
      if (pending.waiter != nullptr) {
        pending.waiter->reply = std::move(result);
        pending.waiter->answered = true;
        pending.waiter->answered_cv.Signal();
      } else {
        --async_pending_;
        DeadlineTimer::Get().Cancel(pending.timer);
        completions.push_back(Completion{std::move(pending.done), std::move(result)});
      }
    }
  }
  // How the connection ends (a violation, EOF) before the completions run:
  // running them on the I/O thread hands the reader role on, and the next
  // reader must not read past the end (its EOF would hide the violation).
  if (!violation.ok()) {
    Violation(violation);
  } else if (!read.ok()) {
    if (absl::IsInvalidArgument(read)) {
      Violation(read);
    } else {
      Break(ConnectionEnded(read.message() == "connection closed" ? "the worker closed it"
                                                                  : read.message()));
    }
  }
  if (!completions.empty()) Complete(std::move(completions));
}

void NativeConnection::Complete(std::vector<Completion> completions) {
  absl::MutexLock lock(&mu_);
  if (std::this_thread::get_id() == io_id_ && reader_ == Reader::kIo) {
    // Not while holding the reader role: a completion may make a blocking
    // call on this connection.
    reader_ = Reader::kNone;
    HandOffLocked();
    mu_.Unlock();
    for (Completion& c : completions) c.done(std::move(c.reply));
    mu_.Lock();
    return;
  }
  for (Completion& c : completions) completions_.push_back(std::move(c));
  io_cv_.Signal();
}

void NativeConnection::Violation(const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    if (broken_) return;
  }
  // The owner first (it treats the worker as crashed), then the calls.
  if (on_violation_) on_violation_(why);
  Break(ConnectionEnded(absl::StrCat("protocol violation: ", why.message())));
}

void NativeConnection::Break(const absl::Status& why) {
  std::vector<Completion> completions;
  std::vector<std::shared_ptr<HostStream>> streams;
  {
    absl::MutexLock lock(&mu_);
    broken_ = true;
    for (auto& [id, weak] : streams_) {
      if (std::shared_ptr<HostStream> stream = weak.lock()) streams.push_back(std::move(stream));
    }
    streams_.clear();
    for (auto& [id, pending] : pending_) {
      if (pending.waiter != nullptr) {
        pending.waiter->reply = Reply{why};
        pending.waiter->answered = true;
        pending.waiter->answered_cv.Signal();
      } else {
        DeadlineTimer::Get().Cancel(pending.timer);
        completions.push_back(Completion{std::move(pending.done), Reply{why}});
      }
    }
    pending_.clear();
    async_pending_ = 0;
  }
  for (const std::shared_ptr<HostStream>& stream : streams) stream->EndFromWorker(why, {});
  WakeReader();
  if (!completions.empty()) Complete(std::move(completions));
}

void NativeConnection::Close(absl::Duration patience) {
  {
    absl::MutexLock lock(&mu_);
    if (stop_io_) return;
    closing_ = true;
    io_cv_.Signal();  // the I/O thread reads until the worker's EOF
  }
  socket_.CloseWrites();
  {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return broken_; };
    mu_.AwaitWithTimeout(absl::Condition(&ended), patience);
  }
  Break(ConnectionEnded("the host closed it"));
  {
    absl::MutexLock lock(&mu_);
    stop_io_ = true;
    io_cv_.Signal();
  }
  WakeReader();
  if (io_.joinable()) {
    // The last owner may be a completion running on the I/O thread itself.
    if (std::this_thread::get_id() == io_.get_id()) {
      io_.detach();
    } else {
      io_.join();
    }
  }
}

// ---- Streams ----

// How a HostStream reaches the worker over this connection.
class NativeConnection::StreamCarrier final : public HostStream::Carrier {
 public:
  StreamCarrier(std::weak_ptr<NativeConnection> connection, uint64_t id)
      : connection_(std::move(connection)), id_(id) {}

  bool Send(const google::protobuf::MessageLite& message) override {
    std::shared_ptr<NativeConnection> connection = connection_.lock();
    return connection != nullptr && connection->SendStreamMessage(id_, message);
  }
  void HalfClose() override {
    if (auto connection = connection_.lock())
      connection->SendStreamFrame(id_, FrameKind::kHalfClose, 0);
  }
  void Cancel() override {
    if (auto connection = connection_.lock()) {
      connection->ForgetStream(id_);
      connection->SendStreamFrame(id_, FrameKind::kCancel, 0);
    }
  }
  void Consumed(int messages, size_t /*bytes*/) override {
    // The worker knows the sizes of what it sent: a credit counts messages.
    if (auto connection = connection_.lock()) {
      connection->SendStreamFrame(id_, FrameKind::kResponseCredit, messages);
    }
  }

 private:
  const std::weak_ptr<NativeConnection> connection_;
  const uint64_t id_;
};

std::shared_ptr<HostStream::Carrier> NativeConnection::OpenStream(
    int method_index, const CallTiming& timing, const std::shared_ptr<HostStream>& stream) {
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (!broken_ && !closing_) {
      id = next_id_++;
      streams_.emplace(id, stream);
      // The I/O thread reads for streams.
      if (reader_ == Reader::kNone) io_cv_.Signal();
    } else {
      id = 0;
    }
  }
  if (id == 0) {
    stream->EndFromWorker(ConnectionEnded("it is closed"), {});
    return nullptr;
  }
  FrameBuffer open;
  AppendStreamOpen(FieldsOf(id, method_index, timing), &open);
  Write(&open);
  return std::make_shared<StreamCarrier>(weak_from_this(), id);
}

bool NativeConnection::SendStreamMessage(uint64_t id,
                                         const google::protobuf::MessageLite& message) {
  {
    absl::MutexLock lock(&mu_);
    if (broken_) return false;
  }
  // Serialized straight into the frame that is written.
  FrameBuffer& out = ThreadCallBuffer();
  const size_t size = message.ByteSizeLong();
  char* payload = AppendStreamMessage(FrameKind::kRequestMessage, id, size, &out);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(payload));
  Write(&out);
  out.clear();
  out.ShrinkIfAbove(kKeptCallBuffer);
  absl::MutexLock lock(&mu_);
  return !broken_;
}

void NativeConnection::SendStreamFrame(uint64_t id, FrameKind kind, int credit) {
  {
    absl::MutexLock lock(&mu_);
    if (broken_) return;
  }
  FrameBuffer frame;
  switch (kind) {
    case FrameKind::kHalfClose:
      AppendHalfClose(id, &frame);
      break;
    case FrameKind::kCancel:
      AppendCancel(id, &frame);
      break;
    default:
      AppendCredit(FrameKind::kResponseCredit, id, static_cast<uint32_t>(credit), &frame);
      break;
  }
  Write(&frame);
}

void NativeConnection::ForgetStream(uint64_t id) {
  absl::MutexLock lock(&mu_);
  streams_.erase(id);
}

absl::Status NativeConnection::FindStreamLocked(uint64_t id, FrameKind kind,
                                                std::shared_ptr<HostStream>* stream) {
  stream->reset();
  if (id >= next_id_) {
    return absl::InvalidArgumentError(absl::StrCat("a ", FrameKindName(kind), " frame of stream ",
                                                   id, ", which was never opened"));
  }
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    if (pending_.contains(id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("a ", FrameKindName(kind), " frame names call ", id, ", which is unary"));
    }
    return absl::OkStatus();  // ended or cancelled meanwhile
  }
  *stream = it->second.lock();
  // A stream the user dropped was cancelled (its carrier forgot it).
  if (*stream == nullptr) streams_.erase(it);
  return absl::OkStatus();
}

bool NativeConnection::PushStreamEventUnlocked(StreamEvent event) {
  // Outside mu_: a stream takes its own locks (and never blocks here). In
  // the order of the frames: a violation must end the connection before
  // the frames after it are taken.
  mu_.Unlock();
  bool delivered = true;
  switch (event.kind) {
    case FrameKind::kResponseMessage:
      delivered = event.stream->Deliver(std::move(event.message));
      break;
    case FrameKind::kRequestCredit:
      event.stream->GrantCredit(event.credit);
      break;
    default:
      event.stream->EndFromWorker(std::move(event.status), std::move(event.metadata));
      break;
  }
  event.stream.reset();
  mu_.Lock();
  return delivered;
}

}  // namespace iw::internal
