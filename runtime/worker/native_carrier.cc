#include "runtime/worker/native_carrier.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/message_lite.h"
#include "runtime/call_context.h"
#include "runtime/common/middleware_chain.h"
#include "runtime/common/timeouts.h"
#include "runtime/logging.h"
#include "runtime/transport/frame_socket.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/native_frames.h"
#include "runtime/wire/status_conversion.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/worker_stream_call.h"

namespace iw::internal {
namespace {

// A year: relative times from the host are clamped to it.
constexpr uint64_t kMaxRelativeMicros = uint64_t{365} * 24 * 3600 * 1000 * 1000;
// The largest hello a host may send (its method table).
constexpr size_t kMaxHelloBody = 4 << 20;
// A handler thread keeps a reply buffer of up to this size between calls
// (larger ones go back to the pool, see FrameBuffer).
constexpr size_t kKeptReplyBuffer = 64 << 10;

// The buffer a handler thread builds its replies in.
FrameBuffer& ThreadReplyBuffer() {
  thread_local FrameBuffer buffer;
  return buffer;
}

class Carrier final : public NativeCarrier, public WorkerStream {
 public:
  Carrier(Dispatcher* dispatcher, UniqueFd fd)
      : dispatcher_(dispatcher),
        socket_(std::move(fd)),
        wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        ended_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        proto_max_request_(static_cast<size_t>(MaxRequestBytes(*dispatcher->binding().service))),
        max_reply_(static_cast<size_t>(MaxResponseBytes(*dispatcher->binding().service))) {}

  ~Carrier() override {
    WaitDone(absl::InfiniteFuture());
    if (thread_.joinable()) thread_.join();
  }

  void Start() {
    if (!dispatcher_->RegisterStream(this)) {
      absl::MutexLock lock(&mu_);
      shutting_down_ = true;
    } else {
      registered_ = true;
    }
    thread_ = std::thread([this] { Loop(); });
    // Named: (iw.method).inline_handler methods run there. Named from here,
    // so the name is there before the ready byte whenever the thread first
    // runs (tests/e2e/native_carrier_test.cc looks at it).
    ::pthread_setname_np(thread_.native_handle(), "iw-native-read");
  }

  bool WaitDone(absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithDeadline(absl::Condition(&done_), deadline)) return true;
    CancelAllLocked();
    return false;
  }

  absl::Status status() const override {
    absl::MutexLock lock(&mu_);
    return status_;
  }

  int ended_fd() const override { return ended_.get(); }

  // WorkerStream: the worker shuts down; the loop ends once idle.
  bool BeginShutdown() override {
    {
      absl::MutexLock lock(&mu_);
      shutting_down_ = true;
    }
    Wake();
    return false;
  }
  void FinishNow() override {}

 private:
  // (Inside Stream, "Carrier" names WorkerStreamCall::Carrier.)
  using Owner = Carrier;

  // The worker end of one stream: sends its responses and credits.
  struct Stream final : public WorkerStreamCall::Carrier {
    Stream(Owner* owner, uint64_t id, CallContext* context, std::string display_name,
           size_t max_request, size_t max_reply)
        : owner(owner),
          id(id),
          io(context, this, std::move(display_name), max_request, max_reply) {}

    // On the handler's thread.
    bool Send(const google::protobuf::MessageLite& message) override {
      FrameBuffer& out = ThreadReplyBuffer();
      const size_t size = message.ByteSizeLong();
      // Serialized straight into the frame that is written.
      char* payload = AppendStreamMessage(FrameKind::kResponseMessage, id, size, &out);
      message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(payload));
      const bool written = owner->Write(&out);
      out.ShrinkIfAbove(kKeptReplyBuffer);
      return written;
    }
    void Consumed(int messages, size_t /*bytes*/) override {
      // The host knows the sizes of what it sent: a credit counts messages.
      FrameBuffer credit;
      AppendCredit(FrameKind::kRequestCredit, id, static_cast<uint32_t>(messages), &credit);
      owner->Write(&credit);
    }

    Owner* const owner;
    const uint64_t id;
    WorkerStreamCall io;
    // The reader thread's own: the host closed its writes.
    bool half_closed = false;
  };

  struct Call {
    Call(absl::string_view method, absl::Time deadline, Metadata metadata, std::string request_id)
        : context(method, deadline, std::move(metadata), std::move(request_id)) {}
    uint64_t id = 0;
    int method_index = -1;
    InFrame frame;              // owns the request's bytes
    absl::string_view request;  // the payload, in frame
    std::optional<absl::Duration> replace_after;
    CallContext context;
    // A stream (kStreamOpen), else null.
    std::unique_ptr<Stream> stream;
  };

  void Wake() {
    const uint64_t one = 1;
    ssize_t ignored = ::write(wake_.get(), &one, sizeof(one));
    (void)ignored;
  }

  // The reader thread.
  void Loop() {
    std::vector<InFrame> frames;
    while (true) {
      bool reading;
      {
        absl::MutexLock lock(&mu_);
        if (ShouldEndLocked()) break;
        reading = reading_;
      }
      const bool blocked = socket_.blocked();
      struct pollfd fds[2] = {
          {socket_.fd(), static_cast<short>((reading ? POLLIN : 0) | (blocked ? POLLOUT : 0)), 0},
          {wake_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        Broken(absl::ErrnoToStatus(errno, "poll on the call connection"));
        continue;
      }
      if (fds[1].revents != 0) {
        uint64_t count;
        ssize_t ignored = ::read(wake_.get(), &count, sizeof(count));
        (void)ignored;
      }
      if (blocked && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
        if (socket_.Flush() == FrameSocket::WriteResult::kBroken) Broken(socket_.error());
      }
      if (reading && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        absl::Status read = socket_.Read(max_body_, &frames);
        HandleFrames(&frames);
        frames.clear();
        if (!read.ok()) {
          if (absl::IsInvalidArgument(read)) {
            Violation(read);
          } else {
            EndReads(read.message() == "connection closed" ? absl::OkStatus() : read);
          }
        }
      }
    }
    // Every call is answered and written: the host reads EOF after the last
    // reply.
    socket_.CloseWrites();
    if (registered_) dispatcher_->UnregisterStream(this);
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    const uint64_t one = 1;
    ssize_t ignored = ::write(ended_.get(), &one, sizeof(one));
    (void)ignored;
  }

  bool ShouldEndLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (!reading_ || shutting_down_ || broken_) && active_.empty() && !socket_.blocked();
  }

  // Handles the frames of one read, in order: every call admitted is handed
  // to the executor at once, then the inline ones run here.
  void HandleFrames(std::vector<InFrame>* frames) {
    if (frames->empty()) return;
    std::vector<std::function<void()>> runs;
    std::vector<Call*> inline_calls;
    refusals_.clear();
    for (InFrame& frame : *frames) {
      absl::Status handled = HandleFrame(frame, &runs, &inline_calls);
      if (!handled.ok()) {
        Violation(handled);
        break;
      }
    }
    if (!runs.empty()) dispatcher_->executor().SubmitAll(&runs);
    if (!refusals_.empty()) Write(&refusals_);
    for (Call* call : inline_calls) Run(call);
  }

  // Not OK: the frame breaks the protocol.
  absl::Status HandleFrame(InFrame& frame, std::vector<std::function<void()>>* runs,
                           std::vector<Call*>* inline_calls) {
    if (!hello_seen_ && frame.kind != FrameKind::kHello) {
      return absl::InvalidArgumentError(
          absl::StrCat("a ", FrameKindName(frame.kind), " frame came before the hello frame"));
    }
    switch (frame.kind) {
      case FrameKind::kHello:
        return HandleHello(frame.body());
      case FrameKind::kCall:
      case FrameKind::kStreamOpen:
        return HandleCall(frame, runs, inline_calls);
      case FrameKind::kCancel: {
        absl::StatusOr<uint64_t> id = ParseCancel(frame.body());
        if (!id.ok()) return id.status();
        absl::MutexLock lock(&mu_);
        // An unknown id is a call whose reply crossed the cancel: fine.
        auto it = active_.find(*id);
        if (it != active_.end()) CancelLocked(it->second.get());
        return absl::OkStatus();
      }
      case FrameKind::kRequestMessage: {
        absl::StatusOr<StreamMessageView> message =
            ParseStreamMessage(FrameKind::kRequestMessage, frame.body());
        if (!message.ok()) return message.status();
        const uint64_t id = message->id;
        const absl::string_view payload = message->payload;
        absl::MutexLock lock(&mu_);
        Stream* stream;
        if (absl::Status found = FindStreamLocked(id, frame.kind, &stream);
            !found.ok() || stream == nullptr) {
          return found;
        }
        if (stream->half_closed) {
          return absl::InvalidArgumentError(
              absl::StrCat("a request message on stream ", id, " after its half-close"));
        }
        // The message is parsed straight from the frame read off the
        // socket, which it keeps alive.
        auto owner = std::make_shared<InFrame>(std::move(frame));
        if (!stream->io.Deliver(StreamMessage{std::move(owner), payload})) {
          return absl::InvalidArgumentError(
              absl::StrCat("a request message on stream ", id, " beyond its credit of ",
                           kStreamWindow, " messages or ", kStreamWindowBytes, " bytes unread"));
        }
        return absl::OkStatus();
      }
      case FrameKind::kHalfClose: {
        absl::StatusOr<uint64_t> id = ParseHalfClose(frame.body());
        if (!id.ok()) return id.status();
        absl::MutexLock lock(&mu_);
        Stream* stream;
        if (absl::Status found = FindStreamLocked(*id, frame.kind, &stream);
            !found.ok() || stream == nullptr) {
          return found;
        }
        stream->half_closed = true;
        stream->io.EndOfRequests();
        return absl::OkStatus();
      }
      case FrameKind::kResponseCredit: {
        absl::StatusOr<CreditView> credit = ParseCredit(frame.kind, frame.body());
        if (!credit.ok()) return credit.status();
        absl::MutexLock lock(&mu_);
        Stream* stream;
        if (absl::Status found = FindStreamLocked(credit->id, frame.kind, &stream);
            !found.ok() || stream == nullptr) {
          return found;
        }
        stream->io.GrantCredit(static_cast<int>(credit->n));
        return absl::OkStatus();
      }
      case FrameKind::kReply:
      case FrameKind::kGoAway:
      case FrameKind::kResponseMessage:
      case FrameKind::kRequestCredit:
        break;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("a ", FrameKindName(frame.kind), " frame came from the host"));
  }

  absl::Status HandleHello(absl::string_view body) {
    if (hello_seen_) return absl::InvalidArgumentError("a second hello frame");
    absl::StatusOr<HelloView> hello = ParseHello(body);
    if (!hello.ok()) return hello.status();
    if (hello->version != kNativeVersion) {
      return absl::InvalidArgumentError(
          absl::StrCat("native carrier version ", hello->version,
                       " is not supported; this worker speaks version ", kNativeVersion));
    }
    hello_seen_ = true;
    method_paths_.clear();
    for (absl::string_view path : hello->method_paths) method_paths_.emplace_back(path);
    methods_.clear();
    for (const std::string& path : method_paths_) methods_.push_back(dispatcher_->FindMethod(path));
    if (hello->max_reply_bytes > 0) {
      max_reply_ = static_cast<size_t>(std::min<uint64_t>(hello->max_reply_bytes, SIZE_MAX / 2));
    }
    // Frames up to the larger of both ends' request limits are read (the
    // .proto's limit is enforced per call, with a reply saying so).
    const uint64_t largest =
        std::max<uint64_t>(hello->max_request_bytes, static_cast<uint64_t>(proto_max_request_));
    max_body_ = static_cast<size_t>(std::min<uint64_t>(largest, UINT32_MAX - kFrameFieldsSlack)) +
                kFrameFieldsSlack;
    return absl::OkStatus();
  }

  absl::Status HandleCall(InFrame& frame, std::vector<std::function<void()>>* runs,
                          std::vector<Call*>* inline_calls) {
    const bool open_stream = frame.kind == FrameKind::kStreamOpen;
    absl::StatusOr<CallView> call =
        open_stream ? ParseStreamOpen(frame.body()) : ParseCall(frame.body());
    if (!call.ok()) return call.status();
    if (call->method >= methods_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("call ", call->id, " names method #",
                                                     call->method, " but the hello listed ",
                                                     methods_.size(), " methods"));
    }
    const codegen::ServiceInfo& service = *dispatcher_->binding().service;
    const int method_index = methods_[call->method];
    if (method_index < 0) {
      Refuse(call->id,
             absl::UnimplementedError(absl::StrCat("unknown method ", method_paths_[call->method],
                                                   "; this worker serves ", service.full_name)));
      return absl::OkStatus();
    }
    if (IsStreaming(service.methods[method_index]) != open_stream) {
      return absl::InvalidArgumentError(absl::StrCat(
          open_stream ? "stream " : "call ", call->id, " of ",
          MethodDisplayName(service, method_index), " came in a ", FrameKindName(frame.kind),
          " frame but the method is ", open_stream ? "unary" : "streaming"));
    }
    if (call->payload.size() > proto_max_request_) {
      Refuse(call->id, MessageTooLarge(FailureCause::kRequestTooLarge,
                                       MethodDisplayName(service, method_index),
                                       call->payload.size(), proto_max_request_));
      return absl::OkStatus();
    }
    // Any value is accepted; beyond a year it is as good as none.
    const absl::Time deadline =
        call->timeout_us == 0 || call->timeout_us > kMaxRelativeMicros
            ? absl::InfiniteFuture()
            : absl::Now() + absl::Microseconds(static_cast<int64_t>(call->timeout_us));
    Metadata metadata;
    for (const auto& [key, value] : call->metadata) {
      metadata.emplace(std::string(key), std::string(value));
    }
    auto admitted = std::make_unique<Call>(method_paths_[call->method],
                                           dispatcher_->BoundedDeadline(method_index, deadline),
                                           UserMetadata(metadata), std::string(call->request_id));
    admitted->id = call->id;
    admitted->method_index = method_index;
    admitted->request = call->payload;  // a view into frame.storage, moved below
    admitted->frame = std::move(frame);
    if (call->replace_after_ms_plus_one > 0) {
      admitted->replace_after = absl::Milliseconds(static_cast<int64_t>(
          std::min<uint64_t>(call->replace_after_ms_plus_one - 1, kMaxRelativeMicros / 1000)));
    }
    admitted->replace_after =
        dispatcher_->BoundedReplaceAfter(method_index, admitted->replace_after);
    if (open_stream) {
      admitted->stream = std::make_unique<Stream>(this, call->id, &admitted->context,
                                                  MethodDisplayName(service, method_index),
                                                  proto_max_request_, max_reply_);
    }
    Call* running = admitted.get();
    {
      absl::MutexLock lock(&mu_);
      if (shutting_down_ || broken_) {
        Refuse(call->id, absl::UnavailableError(absl::StrCat("worker ", dispatcher_->worker_id(),
                                                             " is shutting down")));
        return absl::OkStatus();
      }
      // Ids are unique per connection (not ordered: concurrent callers'
      // frames leave in any order).
      if (!active_.emplace(running->id, std::move(admitted)).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("call id ", running->id, " is already running"));
      }
    }
    if (running->stream != nullptr) {
      // Never inline: a stream's handler waits for what this thread reads.
      runs->push_back([this, running] { RunStream(running); });
    } else if (service.methods[method_index].inline_handler) {
      inline_calls->push_back(running);
    } else {
      runs->push_back([this, running] { Run(running); });
    }
    return absl::OkStatus();
  }

  // Answers call `id` with `status` (in the next write of the reader).
  void Refuse(uint64_t id, const absl::Status& status) {
    AppendStatusReply(id, status, nullptr, &refusals_);
  }

  // A reply frame with `status` (not OK, or the OK end of a stream) and no
  // payload: how a refusal, a failed call and every stream ends.
  static void AppendStatusReply(uint64_t id, const absl::Status& status, const Metadata* metadata,
                                FrameBuffer* out, uint64_t worker_us = 0) {
    const std::string details = StatusDetails(status);
    ReplyFields reply;
    reply.id = id;
    reply.code = static_cast<uint32_t>(status.code());
    reply.worker_us = worker_us;
    reply.message = status.message();
    reply.details = details;
    reply.metadata = metadata;
    AppendReply(reply, 0, out);
  }

  // Writes `out` (the call's last frame) and retires `call`.
  void Retire(Call* call, FrameBuffer& out) {
    Write(&out);
    out.ShrinkIfAbove(kKeptReplyBuffer);
    absl::MutexLock lock(&mu_);
    active_.erase(call->id);  // deletes `call`
    // Under the lock: once the last call is gone the reader may end and the
    // carrier be destroyed (its eventfd closed, the number reused).
    if (active_.empty() && (!reading_ || shutting_down_ || broken_)) Wake();
  }

  // Runs `call` on this thread and writes its reply.
  void Run(Call* call) {
    FrameBuffer& out = ThreadReplyBuffer();
    Metadata metadata;
    uint64_t worker_us = 0;
    absl::Status status = dispatcher_->Execute(
        call->method_index, call->context, call->replace_after,
        [call](google::protobuf::MessageLite* request) {
          // Parsed straight from the frame read off the socket.
          const bool parsed =
              request->ParseFromArray(call->request.data(), static_cast<int>(call->request.size()));
          call->request = {};
          call->frame.storage = FrameBuffer();
          return parsed;
        },
        [this, call, &out, &metadata, &worker_us](const google::protobuf::MessageLite& response) {
          const size_t size = response.ByteSizeLong();
          if (size > max_reply_) {
            return MessageTooLarge(
                FailureCause::kReplyTooLarge,
                MethodDisplayName(*dispatcher_->binding().service, call->method_index), size,
                static_cast<int64_t>(max_reply_));
          }
          ReplyFields reply;
          reply.id = call->id;
          reply.worker_us = worker_us;
          reply.metadata = &metadata;
          // Serialized straight into the frame that is written.
          char* payload = AppendReply(reply, size, &out);
          response.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(payload));
          return absl::OkStatus();
        },
        &metadata, &worker_us);
    if (!status.ok()) AppendStatusReply(call->id, status, &metadata, &out, worker_us);
    Retire(call, out);
  }

  // Runs the handler of stream `call` on this thread, then writes its end.
  void RunStream(Call* call) {
    Metadata metadata;
    absl::Status status = dispatcher_->ExecuteStream(
        call->method_index, call->context, call->replace_after, call->stream->io, &metadata);
    // A stream cancelled here (the host went away) did not succeed, whatever
    // its handler returned.
    if (status.ok() && call->context.IsCancelled()) {
      status = absl::CancelledError(
          absl::StrCat(MethodDisplayName(*dispatcher_->binding().service, call->method_index),
                       ": cancelled (the host cancelled the stream or closed the connection)"));
    }
    FrameBuffer& out = ThreadReplyBuffer();
    AppendStatusReply(call->id, status, &metadata, &out);
    Retire(call, out);
  }

  // The stream `id` names, for a frame of `kind`: null if it is not (or no
  // longer) running (the frame crossed its end); not OK if `id` is a unary
  // call.
  absl::Status FindStreamLocked(uint64_t id, FrameKind kind, Stream** stream)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    *stream = nullptr;
    auto it = active_.find(id);
    if (it == active_.end()) return absl::OkStatus();
    if (it->second->stream == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("a ", FrameKindName(kind), " frame names call ", id, ", which is unary"));
    }
    *stream = it->second->stream.get();
    return absl::OkStatus();
  }

  // Stops `call`: its context says so, a stream's reads and writes fail.
  void CancelLocked(Call* call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    call->context.MarkCancelled();
    if (call->stream != nullptr) call->stream->io.Cancel();
  }
  void CancelAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto& [id, call] : active_) CancelLocked(call.get());
  }

  // False if the connection is broken (the frames are lost).
  bool Write(FrameBuffer* frames) {
    bool written = true;
    switch (socket_.Write(frames)) {
      case FrameSocket::WriteResult::kDone:
      case FrameSocket::WriteResult::kQueued:
        break;
      case FrameSocket::WriteResult::kBlocked:
        // The reader thread polls for POLLOUT and flushes.
        Wake();
        break;
      case FrameSocket::WriteResult::kBroken:
        Broken(socket_.error());
        written = false;
        break;
    }
    frames->clear();
    return written;
  }

  // The host broke the protocol: say why, answer nothing more. Only the
  // first violation is told (a read may hold a bad frame and then a bad
  // header: one GoAway).
  void Violation(const absl::Status& why) {
    if (violated_) return;
    violated_ = true;
    dispatcher_->logger().Log(LogLevel::kError, dispatcher_->worker_id(),
                              absl::StrCat("ending the call connection: ", why.message()));
    FrameBuffer goaway;
    AppendGoAway(why.message(), &goaway);
    Write(&goaway);
    absl::MutexLock lock(&mu_);
    if (status_.ok()) status_ = why;
    reading_ = false;
    CancelAllLocked();
  }

  // The host closed its end (OK) or the connection failed: unary calls
  // running are answered, no new ones come. Streams running end (cancelled):
  // nothing more of them can come.
  void EndReads(const absl::Status& why) {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!why.ok()) {
      if (status_.ok()) status_ = why;
      CancelAllLocked();
      return;
    }
    for (auto& [id, call] : active_) {
      if (call->stream != nullptr) CancelLocked(call.get());
    }
  }

  // Nothing can be written any more: nobody waits for the calls running.
  void Broken(const absl::Status& why) {
    {
      absl::MutexLock lock(&mu_);
      broken_ = true;
      if (status_.ok()) status_ = why;
      CancelAllLocked();
    }
    Wake();
  }

  Dispatcher* const dispatcher_;
  FrameSocket socket_;
  UniqueFd wake_;   // an eventfd: wakes the reader's poll()
  UniqueFd ended_;  // an eventfd: readable once the loop has ended
  const size_t proto_max_request_;
  bool registered_ = false;
  std::thread thread_;

  // The reader thread's own.
  bool hello_seen_ = false;
  bool violated_ = false;
  size_t max_body_ = kMaxHelloBody;
  std::vector<std::string> method_paths_;
  std::vector<int> methods_;  // dispatcher index per hello entry, or -1
  FrameBuffer refusals_;
  // Set by the hello, before any call runs; read by the handler threads.
  size_t max_reply_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Call>> active_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = true;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<NativeCarrier> StartNativeCarrier(Dispatcher* dispatcher, UniqueFd fd) {
  auto carrier = std::make_unique<Carrier>(dispatcher, std::move(fd));
  carrier->Start();
  return carrier;
}

}  // namespace iw::internal
