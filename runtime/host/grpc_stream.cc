#include "runtime/host/grpc_stream.h"

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/middleware_chain.h"
#include "runtime/host/grpc_failure.h"
#include "runtime/wire/grpc_config.h"

namespace iw::internal {
namespace {

// One stream as a gRPC bidi call. The HostStream holds it (as its carrier);
// it holds itself until gRPC is done with it (OnDone), and the stream
// weakly.
//
// gRPC's rules, kept by `mu_`: one read and one write outstanding at most;
// WritesDone after the last write; and, since the user's threads start
// operations outside gRPC's reactions, a hold keeps the call from ending
// until no such operation can come any more (the worker ended the responses,
// or the host cancelled, and writes are over). Operations are decided under
// `mu_` and started without it (gRPC may run a reaction inline).
class GrpcStreamCarrier final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                                public HostStream::Carrier {
 public:
  GrpcStreamCarrier(std::string method, const std::shared_ptr<HostStream>& stream)
      : method_(std::move(method)), stream_(stream) {}

  // Starts the call; the first read is under way.
  static std::shared_ptr<GrpcStreamCarrier> Start(const std::shared_ptr<grpc::Channel>& channel,
                                                  absl::string_view path, const CallTiming& timing,
                                                  const std::shared_ptr<HostStream>& stream) {
    std::string method(absl::StripPrefix(path, "/"));
    absl::StrReplaceAll({{"/", "."}}, &method);
    auto carrier = std::make_shared<GrpcStreamCarrier>(std::move(method), stream);
    carrier->self_ = carrier;
    PrepareGrpcCall(timing, &carrier->context_);
    grpc::GenericStub stub(channel);
    stub.PrepareBidiStreamingCall(&carrier->context_, std::string(path), grpc::StubOptions(),
                                  carrier.get());
    carrier->AddHold();
    carrier->MaybeRead(/*from_reaction=*/false, /*drain=*/false);
    carrier->StartCall();
    return carrier;
  }

  // ---- HostStream::Carrier (the user's threads). ----

  bool Send(const google::protobuf::MessageLite& message) override {
    grpc::ByteBuffer bytes;
    bool own_buffer = false;
    if (!grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(message, &bytes,
                                                                             &own_buffer)
             .ok()) {
      return false;
    }
    {
      absl::MutexLock lock(&mu_);
      if (hold_released_ || cancelled_ || reads_done_ || writes_closed_ || write_failed_ ||
          writing_) {
        return false;
      }
      write_buffer_.Swap(&bytes);
      writing_ = true;
      ++starting_;
    }
    StartWrite(&write_buffer_);
    bool ok;
    {
      absl::MutexLock lock(&mu_);
      --starting_;
      // Cancellation (the user's, the deadline's) fails a write gRPC holds.
      auto written = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !writing_; };
      mu_.Await(absl::Condition(&written));
      ok = write_ok_;
    }
    MaybeReleaseHold();
    if (!ok) return false;  // the call is ending: OnDone() reports how
    if (std::shared_ptr<HostStream> stream = stream_.lock()) stream->GrantCredit(1);
    return true;
  }

  void HalfClose() override {
    bool start;
    {
      absl::MutexLock lock(&mu_);
      if (writes_closed_) return;
      writes_closed_ = true;
      // After an outstanding write: OnWriteDone() starts it.
      start = !writing_ && !hold_released_ && !cancelled_ && !reads_done_ && !write_failed_;
      if (start) ++starting_;
    }
    if (start) {
      StartWritesDone();
      absl::MutexLock lock(&mu_);
      --starting_;
    }
    MaybeReleaseHold();
  }

  void Cancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    context_.TryCancel();
    MaybeReleaseHold();
  }

  void Consumed(int messages, size_t bytes) override {
    {
      absl::MutexLock lock(&mu_);
      unconsumed_ -= messages;
      unconsumed_bytes_ -= bytes;
    }
    MaybeRead(/*from_reaction=*/false, /*drain=*/false);
  }

  void StopReading() override { MaybeRead(/*from_reaction=*/false, /*drain=*/true); }

  // ---- gRPC's reactions. ----

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The worker ended the call (its status follows), or it broke.
      {
        absl::MutexLock lock(&mu_);
        reading_ = false;
        reads_done_ = true;
      }
      MaybeReleaseHold();
      return;
    }
    std::string bytes = ByteBufferToString(read_buffer_);
    read_buffer_.Clear();
    bool deliver;
    {
      absl::MutexLock lock(&mu_);
      deliver = !draining_;
      if (deliver) {
        ++unconsumed_;
        unconsumed_bytes_ += bytes.size();
      }
    }
    if (deliver) {
      std::shared_ptr<HostStream> stream = stream_.lock();
      // Never beyond the window: we read only while the user has room.
      if (stream != nullptr && !stream->Deliver(StreamMessage::Own(std::move(bytes)))) {
        context_.TryCancel();
      }
    }
    {
      // Only now: the next read (maybe started at once by the user's
      // Consumed()) must not deliver before this one.
      absl::MutexLock lock(&mu_);
      reading_ = false;
    }
    MaybeRead(/*from_reaction=*/true, /*drain=*/false);
    MaybeReleaseHold();
  }

  void OnWriteDone(bool ok) override {
    bool writes_done;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      write_ok_ = ok;
      if (!ok) write_failed_ = true;
      writes_done = ok && writes_closed_ && !cancelled_ && !reads_done_;
    }
    if (writes_done) StartWritesDone();
    MaybeReleaseHold();
  }

  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<GrpcStreamCarrier> self;
    {
      absl::MutexLock lock(&mu_);
      self = std::move(self_);
    }
    if (std::shared_ptr<HostStream> stream = stream_.lock()) {
      absl::Status result = status.ok() ? absl::OkStatus()
                                        : FromGrpcCall(status, StatusFromWorker(context_), method_,
                                                       /*request_size=*/0, /*max_request=*/-1);
      Metadata metadata = UserMetadata(context_.GetServerInitialMetadata());
      Metadata trailing = UserMetadata(context_.GetServerTrailingMetadata());
      metadata.merge(trailing);
      stream->EndFromWorker(std::move(result), std::move(metadata));
    }
    // `self` goes last: this may be deleted.
  }

 private:
  // Starts the next read if none is outstanding and the user has room for
  // one more response (or reads no more: `drain`).
  void MaybeRead(bool from_reaction, bool drain) {
    {
      absl::MutexLock lock(&mu_);
      if (drain) draining_ = true;
      if (reading_ || reads_done_ || cancelled_ || (!from_reaction && hold_released_) ||
          (!draining_ &&
           (unconsumed_ >= kStreamWindow || unconsumed_bytes_ >= kStreamWindowBytes / 2))) {
        return;
      }
      reading_ = true;
      ++starting_;
    }
    StartRead(&read_buffer_);
    {
      absl::MutexLock lock(&mu_);
      --starting_;
    }
    MaybeReleaseHold();
  }

  // Lets the call end once no operation can come from outside a reaction.
  void MaybeReleaseHold() {
    {
      absl::MutexLock lock(&mu_);
      if (hold_released_ || starting_ > 0) return;
      const bool reads_over = reads_done_ || cancelled_ || draining_;
      const bool writes_over = writes_closed_ || cancelled_ || reads_done_ || write_failed_;
      if (!reads_over || !writes_over) return;
      hold_released_ = true;
    }
    RemoveHold();
  }

  const std::string method_;  // "pkg.Service.Method"
  const std::weak_ptr<HostStream> stream_;
  grpc::ClientContext context_;
  grpc::ByteBuffer read_buffer_;   // owned by the outstanding read
  grpc::ByteBuffer write_buffer_;  // owned by the outstanding write

  absl::Mutex mu_;
  std::shared_ptr<GrpcStreamCarrier> self_ ABSL_GUARDED_BY(mu_);  // until OnDone()
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // Responses delivered to the stream and not yet read by the user.
  int unconsumed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t unconsumed_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // Operations decided and not yet handed to gRPC.
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::shared_ptr<HostStream::Carrier> OpenGrpcStream(const std::shared_ptr<grpc::Channel>& channel,
                                                    absl::string_view path,
                                                    const CallTiming& timing,
                                                    const std::shared_ptr<HostStream>& stream) {
  return GrpcStreamCarrier::Start(channel, path, timing, stream);
}

}  // namespace iw::internal
