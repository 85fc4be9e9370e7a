// -----------------------------------------------------------------------------
// File: stream.h
// -----------------------------------------------------------------------------
//
// Streaming methods (docs/streaming.md). A `.proto` method whose request or
// response is a `stream` gets, from protoc-gen-iw:
//
//   rpc Render(Job) returns (stream Progress);        // server streaming
//     host:    iw::ResponseStream<Progress> Render(const Job&, options)
//              iw::CallHandle RenderAsync(const Job&, on_message, done, options)
//     handler: absl::Status Render(CallContext&, const Job&,
//                                  iw::StreamWriter<Progress>&)
//   rpc Upload(stream Chunk) returns (Summary);       // client streaming
//     host:    iw::RequestStream<Chunk, Summary> Upload(options)
//     handler: absl::StatusOr<Summary> Upload(CallContext&,
//                                             iw::StreamReader<Chunk>&)
//   rpc Chat(stream Line) returns (stream Line);      // bidirectional
//     host:    iw::BidiStream<Line, Line> Chat(options)
//     handler: absl::Status Chat(CallContext&, iw::StreamReader<Line>&,
//                                iw::StreamWriter<Line>&)
//
// Example (host, server streaming):
//
//   iw::ResponseStream<Progress> render = host->Render(job);
//   for (const Progress& progress : render) Draw(progress);
//   absl::Status status = render.Finish();
//
// Guarantees, the same for every kind and wherever the worker runs:
// - The method's timeout bounds the whole stream, from its start to its
//   final status.
// - Flow control: each end holds at most kStreamWindow unread messages of
//   the other, and stops sending once kStreamWindowBytes are unread; a
//   writer whose reader does not read waits in Write() (bounded by the
//   deadline), so memory stays bounded.
// - Cancellation (Cancel(), destroying an unfinished stream, the host
//   going away) reaches the other end at once: the handler's Write()
//   returns false and CallContext::IsCancelled() turns true.
// - A stream ends with exactly one final status: the handler's, or
//   DEADLINE_EXCEEDED / CANCELLED / UNAVAILABLE (the worker crashed: the
//   same report as a unary call, plus how many messages were delivered) /
//   RESOURCE_EXHAUSTED (a message over the size limit) naming the method.
//
// IMPORTANT: a stream object is used by one thread at a time (one reader
// and one writer thread at once for BidiStream); Cancel() may be called
// from any thread.

#ifndef IW_RUNTIME_STREAM_H_
#define IW_RUNTIME_STREAM_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace google::protobuf {
class MessageLite;
}  // namespace google::protobuf

namespace iw {

// Flow control, in each direction of a stream: at most kStreamWindow
// messages are sent and not yet read by the other end, and no message is
// sent while kStreamWindowBytes of earlier ones are unread. So at most
// kStreamWindowBytes plus one message (of at most the size limit) wait
// unread at either end, whatever the reader does; small messages flow 64 at
// a time.
inline constexpr int kStreamWindow = 64;
inline constexpr size_t kStreamWindowBytes = 512 << 10;

namespace internal {

// The host end of one stream, whatever carries it (implemented by the
// runtime). Thread-safe as documented on the typed wrappers.
class ClientStream {
 public:
  virtual ~ClientStream() = default;
  // Sends one request message; blocks while the worker holds kStreamWindow
  // unread ones (up to the deadline). False once the stream has ended or
  // writes were closed: the message was not sent; Finish() says why.
  virtual bool Write(const google::protobuf::MessageLite& message) = 0;
  // No more request messages (half-close). Idempotent.
  virtual void CloseWrites() = 0;
  // The next response message, parsed into `message`. Blocks until one
  // arrives or the stream has ended (false).
  virtual bool Read(google::protobuf::MessageLite* message) = 0;
  // Closes writes, then waits until the stream has ended and returns its
  // final status. Response messages not read are discarded. Idempotent.
  virtual absl::Status Finish() = 0;
  // Ends the stream now with CANCELLED unless it has ended already, and
  // tells the worker. Idempotent.
  virtual void Cancel() = 0;
  // Response messages Read() has returned so far.
  virtual int64_t messages_read() const = 0;
};

// The worker end of one stream, for the handler (implemented by the runtime).
class StreamIo {
 public:
  virtual ~StreamIo() = default;
  // The next request message; blocks until one arrives. False at the end
  // of the requests (the host closed its writes) or once the stream has
  // ended (cancelled, deadline passed, host gone).
  virtual bool Read(google::protobuf::MessageLite* message) = 0;
  // Sends one response message; blocks while the host holds kStreamWindow
  // unread ones. False once the stream has ended (the handler should
  // return; its status no longer reaches anyone) or the message is over the
  // size limit (the stream then ends with RESOURCE_EXHAUSTED).
  virtual bool Write(const google::protobuf::MessageLite& message) = 0;
};

}  // namespace internal

// ---------------------------------------------------------------------------
// Worker side
// ---------------------------------------------------------------------------

// The requests of a client-streaming or bidirectional handler.
template <typename Request>
class StreamReader {
 public:
  explicit StreamReader(internal::StreamIo* io) : io_(io) {}
  // The next request; false once the host closed its writes or the stream
  // ended (see CallContext::IsCancelled() to tell them apart).
  bool Read(Request* request) { return io_->Read(request); }

 private:
  internal::StreamIo* io_;
};

// The responses of a server-streaming or bidirectional handler.
template <typename Response>
class StreamWriter {
 public:
  explicit StreamWriter(internal::StreamIo* io) : io_(io) {}
  // Sends one response; false once nobody reads any more (the host
  // cancelled or went away, the deadline passed) or `response` is over the
  // size limit. Return from the handler then.
  bool Write(const Response& response) { return io_->Write(response); }

 private:
  internal::StreamIo* io_;
};

// ---------------------------------------------------------------------------
// Host side
// ---------------------------------------------------------------------------

namespace internal {

// Input iteration over Next(): `for (const T& m : stream)`.
template <typename Stream, typename T>
class StreamIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using pointer = const T*;
  using reference = const T&;

  StreamIterator() = default;
  explicit StreamIterator(Stream* stream) : stream_(stream) { Advance(); }
  const T& operator*() const { return current_; }
  const T* operator->() const { return &current_; }
  StreamIterator& operator++() {
    Advance();
    return *this;
  }
  bool operator==(const StreamIterator& other) const { return stream_ == other.stream_; }
  bool operator!=(const StreamIterator& other) const { return stream_ != other.stream_; }

 private:
  void Advance() {
    current_ = T();
    if (!stream_->Next(&current_)) stream_ = nullptr;
  }
  Stream* stream_ = nullptr;
  T current_;
};

}  // namespace internal

// The responses of a server-streaming call. Move-only. Destroying it before
// Finish() cancels the call.
template <typename Response>
class ResponseStream {
 public:
  explicit ResponseStream(std::unique_ptr<internal::ClientStream> call) : call_(std::move(call)) {}
  ResponseStream(ResponseStream&&) noexcept = default;
  ResponseStream& operator=(ResponseStream&&) noexcept = default;
  ~ResponseStream() {
    if (call_) call_->Cancel();
  }

  // The next response; blocks until one arrives. False once the stream has
  // ended: then Finish() returns its status.
  bool Next(Response* response) { return call_->Read(response); }
  // The final status (waits for it). Unread responses are discarded.
  absl::Status Finish() { return call_->Finish(); }
  // Ends the call now (CANCELLED) and tells the worker.
  void Cancel() { call_->Cancel(); }
  // Responses returned by Next() so far.
  int64_t messages_read() const { return call_->messages_read(); }

  using iterator = internal::StreamIterator<ResponseStream, Response>;
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::unique_ptr<internal::ClientStream> call_;
};

// The requests of a client-streaming call, then its one response.
// Move-only. Destroying it before Finish() cancels the call.
template <typename Request, typename Response>
class RequestStream {
 public:
  explicit RequestStream(std::unique_ptr<internal::ClientStream> call) : call_(std::move(call)) {}
  RequestStream(RequestStream&&) noexcept = default;
  RequestStream& operator=(RequestStream&&) noexcept = default;
  ~RequestStream() {
    if (call_) call_->Cancel();
  }

  // Sends one request; blocks while the worker has not read kStreamWindow
  // earlier ones. False once the call has ended (Finish() says why).
  bool Write(const Request& request) { return call_->Write(request); }
  // Closes the requests and waits for the response (or the call's error).
  absl::StatusOr<Response> Finish() {
    call_->CloseWrites();
    Response response;
    const bool got = call_->Read(&response);
    absl::Status status = call_->Finish();
    if (!status.ok()) return status;
    if (!got) {
      return absl::InternalError("the worker ended a client-streaming call without a response");
    }
    return response;
  }
  // Ends the call now (CANCELLED) and tells the worker.
  void Cancel() { call_->Cancel(); }

 private:
  std::unique_ptr<internal::ClientStream> call_;
};

// Both directions of a bidirectional call. Move-only. One thread may write
// while another reads. Destroying it before Finish() cancels the call.
template <typename Request, typename Response>
class BidiStream {
 public:
  explicit BidiStream(std::unique_ptr<internal::ClientStream> call) : call_(std::move(call)) {}
  BidiStream(BidiStream&&) noexcept = default;
  BidiStream& operator=(BidiStream&&) noexcept = default;
  ~BidiStream() {
    if (call_) call_->Cancel();
  }

  // Sends one request (see RequestStream::Write()).
  bool Write(const Request& request) { return call_->Write(request); }
  // No more requests: the handler's StreamReader::Read() returns false.
  void CloseWrites() { call_->CloseWrites(); }
  // The next response (see ResponseStream::Next()).
  bool Next(Response* response) { return call_->Read(response); }
  // Closes writes and waits for the final status; unread responses are
  // discarded.
  absl::Status Finish() { return call_->Finish(); }
  // Ends the call now (CANCELLED) and tells the worker.
  void Cancel() { call_->Cancel(); }
  int64_t messages_read() const { return call_->messages_read(); }

  using iterator = internal::StreamIterator<BidiStream, Response>;
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::unique_ptr<internal::ClientStream> call_;
};

}  // namespace iw

#endif  // IW_RUNTIME_STREAM_H_
