// -----------------------------------------------------------------------------
// File: wire/native_frames.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. The frames of the native carrier: the call-stream
// protocol (ids, deadlines, cancellation, metadata, status) written directly
// on the private socketpair of a spawned worker, where no other program can
// ever connect, instead of inside a gRPC stream (WorkerTransport::kNative).
//
// Every frame is an 8-byte header and a body:
//
//   u32 body size | u8 kind | u8 0 | u16 0
//
// Integers are little-endian; a "string" is a u32 length and its bytes; a
// payload (a serialized request or reply message) is the rest of the body.
//
//   host → worker
//     kHello   first frame, exactly once: u32 version, u64 largest request
//              the host sends, u64 largest reply it accepts, u32 n, then n
//              method paths ("/pkg.Service/Method"; calls index into them).
//     kCall    u64 id (> 0, unique), u32 method index, u64 timeout in
//              µs (0: none), u64 replace-after ms + 1 (0: none), string
//              request id, u32 n, n × (string key, string value), payload.
//     kCancel  u64 id: the host stopped waiting for that call or stream.
//     kStreamOpen       the fields of kCall, no payload: opens a stream
//              (stream.h) of a streaming method; its id is unique among
//              the calls and streams running.
//     kRequestMessage   u64 id, payload: one request message of a stream.
//     kHalfClose        u64 id: no more request messages on that stream.
//     kResponseCredit   u64 id, u32 n (1..kStreamWindow): the host read n
//              more response messages; the worker may send n more.
//   worker → host
//     kReply   u64 id, u32 status code (0 = OK), u64 worker time in µs
//              (from the call's start in the worker to the handler's
//              result; 0 for a refusal), string message, string details (a
//              serialized google.rpc.Status carrying the status payloads;
//              may be empty), u32 n, n × (string key, string value),
//              payload (the reply message, code 0 only). For a stream: its
//              end (the handler's final status and trailing metadata), with
//              no payload.
//     kResponseMessage  u64 id, payload: one response message of a stream.
//     kRequestCredit    u64 id, u32 n (1..kStreamWindow): the worker read n
//              more request messages; the host may send n more.
//     kGoAway  string reason: the worker found a protocol violation and
//              closes the connection (the host reports the reason).
//
// Streams. Each end may have kStreamWindow messages of a stream that the
// other has not read, and sends none while kStreamWindowBytes of them are
// unread (a credit names messages; the sender knows their sizes, credits
// come back oldest first); the reader gives credit back (kResponseCredit,
// kRequestCredit) in batches as it reads (common/stream_state.h). A stream ends with the worker's
// kReply, or with the host's kCancel (the worker still answers with a kReply, which the host
// ignores). Frames of a stream after its end cross that end in flight: a frame naming an id that is
// not (or no longer) open is ignored, at both ends. A message beyond the sender's credit, a
// kStreamOpen of a unary method, a kCall of a streaming method, a stream frame naming a unary call,
// a request message after kHalfClose, or a kReply to a stream carrying a
// payload breaks the protocol.
//
// Either end validates every frame before it uses any of it (ParseFrame*):
// size bounds, kind, reserved bytes, ids, indexes, counts and lengths. A
// violation ends the connection: the host treats the worker as crashed; the
// worker says why (kGoAway) and exits.
//
// Both ends build a frame in one buffer and, with a large payload,
// serialize the message straight into it (AppendCall / AppendReply return
// where the payload goes); they parse a message straight from the frame they
// read (the payload is a view into it).

#ifndef IW_RUNTIME_WIRE_NATIVE_FRAMES_H_
#define IW_RUNTIME_WIRE_NATIVE_FRAMES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/metadata.h"

namespace iw::internal {

// 3: the reply's worker time.
inline constexpr uint32_t kNativeVersion = 3;
inline constexpr size_t kFrameHeaderBytes = 8;
// Room for a frame's fields around its payload: larger fields (metadata,
// status details) count against it too.
inline constexpr size_t kFrameFieldsSlack = 64 << 10;
// At most this many method paths in a hello, metadata entries in a frame.
inline constexpr uint32_t kMaxFrameMethods = 1 << 16;
inline constexpr uint32_t kMaxFrameMetadata = 1 << 12;
// FrameBuffer storage of at least this size is pooled, up to kPoolBytes and
// kPoolBuffers in all.
inline constexpr size_t kPooledBufferBytes = 128 << 10;
inline constexpr size_t kPoolBytes = 64 << 20;
inline constexpr size_t kPoolBuffers = 8;

enum class FrameKind : uint8_t {
  kHello = 1,
  kCall = 2,
  kCancel = 3,
  kStreamOpen = 4,
  kRequestMessage = 5,
  kHalfClose = 6,
  kResponseCredit = 7,
  kReply = 0x81,
  kGoAway = 0x82,
  kResponseMessage = 0x83,
  kRequestCredit = 0x84,
};

// A growable byte buffer that does not zero what it grows into (a 16 MiB
// payload is written once, by the serializer).
//
// Storage of kPooledBufferBytes or more comes from, and goes back to, a small
// process-wide pool (at most kPoolBytes in all): a large message's buffers
// are reused from one call to the next instead of being mapped afresh.
// IMPORTANT: on virtual machines a page fault can cost tens of µs, and fresh
// memory faults once per 4 KiB page: a new 1 MiB buffer costs 256 faults
// (docs/benchmarks.md).
class FrameBuffer {
 public:
  FrameBuffer() = default;
  ~FrameBuffer() { Release(); }
  FrameBuffer(FrameBuffer&& other) noexcept { *this = std::move(other); }
  FrameBuffer& operator=(FrameBuffer&& other) noexcept {
    if (this == &other) return *this;
    Release();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  void clear() { size_ = 0; }
  // Makes `size` bytes more room at the end; returns where they start.
  char* Extend(size_t size);
  // Room for at least `capacity` bytes in all (the contents are kept).
  void Reserve(size_t capacity);
  // Sets the size (at most capacity()), e.g. after writing into the room
  // that Reserve() made.
  void SetSize(size_t size) { size_ = size; }
  // Keeps only the last size() - n bytes.
  void Consume(size_t n);
  // Frees the storage (to the pool, if large) if it grew beyond `keep`
  // bytes and holds nothing.
  void ShrinkIfAbove(size_t keep);

 private:
  void Release();

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// One call, as the host sends it.
struct CallFields {
  uint64_t id = 0;
  uint32_t method = 0;
  uint64_t timeout_us = 0;
  uint64_t replace_after_ms_plus_one = 0;
  absl::string_view request_id;
  const Metadata* metadata = nullptr;  // may be null
};

// One reply, as the worker sends it.
struct ReplyFields {
  uint64_t id = 0;
  uint32_t code = 0;
  uint64_t worker_us = 0;
  absl::string_view message;
  absl::string_view details;
  const Metadata* metadata = nullptr;  // may be null
};

void AppendHello(uint64_t max_request_bytes, uint64_t max_reply_bytes,
                 const std::vector<absl::string_view>& method_paths, FrameBuffer* out);
// Append a frame whose payload is `payload_size` bytes; return where the
// payload goes (the caller writes exactly that many bytes there).
char* AppendCall(const CallFields& call, size_t payload_size, FrameBuffer* out);
char* AppendReply(const ReplyFields& reply, size_t payload_size, FrameBuffer* out);
void AppendCancel(uint64_t id, FrameBuffer* out);
void AppendGoAway(absl::string_view reason, FrameBuffer* out);
void AppendStreamOpen(const CallFields& call, FrameBuffer* out);
// A stream message: `kind` is kRequestMessage or kResponseMessage; returns
// where its `payload_size` bytes go.
char* AppendStreamMessage(FrameKind kind, uint64_t id, size_t payload_size, FrameBuffer* out);
void AppendHalfClose(uint64_t id, FrameBuffer* out);
// `kind` is kResponseCredit or kRequestCredit.
void AppendCredit(FrameKind kind, uint64_t id, uint32_t n, FrameBuffer* out);

// A frame header, validated: a known kind, zero reserved bytes, and a body
// of at most `max_body` bytes. INVALID_ARGUMENT naming what is wrong.
struct FrameHeader {
  FrameKind kind;
  uint32_t body_size;
};
absl::StatusOr<FrameHeader> ParseFrameHeader(const char* header, size_t max_body);

// The fields of a frame's body; strings and payloads are views into it.
struct HelloView {
  uint32_t version = 0;
  uint64_t max_request_bytes = 0;
  uint64_t max_reply_bytes = 0;
  std::vector<absl::string_view> method_paths;
};
struct CallView {
  uint64_t id = 0;
  uint32_t method = 0;
  uint64_t timeout_us = 0;
  uint64_t replace_after_ms_plus_one = 0;
  absl::string_view request_id;
  std::vector<std::pair<absl::string_view, absl::string_view>> metadata;
  absl::string_view payload;
};
struct ReplyView {
  uint64_t id = 0;
  uint32_t code = 0;
  uint64_t worker_us = 0;
  absl::string_view message;
  absl::string_view details;
  std::vector<std::pair<absl::string_view, absl::string_view>> metadata;
  absl::string_view payload;
};

struct StreamMessageView {
  uint64_t id = 0;
  absl::string_view payload;
};
struct CreditView {
  uint64_t id = 0;
  uint32_t n = 0;
};

// INVALID_ARGUMENT naming the frame and the field that is malformed
// (truncated, a count larger than the body, a code out of range, trailing
// bytes, an id of 0, a reply payload with an error code).
absl::StatusOr<HelloView> ParseHello(absl::string_view body);
absl::StatusOr<CallView> ParseCall(absl::string_view body);
absl::StatusOr<uint64_t> ParseCancel(absl::string_view body);
absl::StatusOr<ReplyView> ParseReply(absl::string_view body);
absl::StatusOr<std::string> ParseGoAway(absl::string_view body);
// A kStreamOpen: a CallView with an empty payload (trailing bytes are
// malformed).
absl::StatusOr<CallView> ParseStreamOpen(absl::string_view body);
// kRequestMessage / kResponseMessage (`kind` names the frame in errors).
absl::StatusOr<StreamMessageView> ParseStreamMessage(FrameKind kind, absl::string_view body);
absl::StatusOr<uint64_t> ParseHalfClose(absl::string_view body);
// kResponseCredit / kRequestCredit: n from 1 to kStreamWindow.
absl::StatusOr<CreditView> ParseCredit(FrameKind kind, absl::string_view body);

// "hello", "call", ... for messages.
absl::string_view FrameKindName(FrameKind kind);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_NATIVE_FRAMES_H_
