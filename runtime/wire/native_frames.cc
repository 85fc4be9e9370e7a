#include "runtime/wire/native_frames.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/stream.h"

namespace iw::internal {
namespace {

// Little-endian, whatever the host's order (compilers turn these into one
// load or store on little-endian machines).
template <typename T>
void StoreLE(char* at, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) at[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
template <typename T>
T LoadLE(const char* at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(static_cast<uint8_t>(at[i])) << (8 * i);
  return v;
}

// Writes fields at a cursor that the caller sized exactly.
class FieldWriter {
 public:
  explicit FieldWriter(char* at) : at_(at) {}
  void U8(uint8_t v) { *at_++ = static_cast<char>(v); }
  void U16(uint16_t v) {
    StoreLE<uint16_t>(at_, v);
    at_ += 2;
  }
  void U32(uint32_t v) {
    StoreLE<uint32_t>(at_, v);
    at_ += 4;
  }
  void U64(uint64_t v) {
    StoreLE<uint64_t>(at_, v);
    at_ += 8;
  }
  void Str(absl::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    if (!s.empty()) std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
  }
  char* at() const { return at_; }

 private:
  char* at_;
};

// Reads fields from a body, refusing to read past its end.
class FieldReader {
 public:
  FieldReader(absl::string_view body, absl::string_view frame) : rest_(body), frame_(frame) {}

  bool U32(uint32_t* v, absl::string_view field) {
    if (!Need(4, field)) return false;
    *v = LoadLE<uint32_t>(rest_.data());
    rest_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v, absl::string_view field) {
    if (!Need(8, field)) return false;
    *v = LoadLE<uint64_t>(rest_.data());
    rest_.remove_prefix(8);
    return true;
  }
  bool Str(absl::string_view* s, absl::string_view field) {
    uint32_t size;
    if (!U32(&size, field)) return false;
    if (size > rest_.size()) {
      Fail(absl::StrCat(field, " is ", size, " bytes but only ", rest_.size(), " remain"));
      return false;
    }
    *s = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return true;
  }
  // A count of entries that each take at least `min_entry_bytes`.
  bool Count(uint32_t* n, uint32_t max, size_t min_entry_bytes, absl::string_view field) {
    if (!U32(n, field)) return false;
    if (*n > max || static_cast<uint64_t>(*n) * min_entry_bytes > rest_.size()) {
      Fail(absl::StrCat(field, " is ", *n, ", more than the frame can hold"));
      return false;
    }
    return true;
  }
  bool Metadata(std::vector<std::pair<absl::string_view, absl::string_view>>* out) {
    uint32_t n;
    if (!Count(&n, kMaxFrameMetadata, 8, "metadata count")) return false;
    out->reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      absl::string_view key, value;
      if (!Str(&key, "metadata key") || !Str(&value, "metadata value")) return false;
      if (key.empty()) {
        Fail("a metadata key is empty");
        return false;
      }
      out->emplace_back(key, value);
    }
    return true;
  }
  absl::string_view Rest() {
    absl::string_view rest = rest_;
    rest_ = {};
    return rest;
  }
  bool AtEnd() {
    if (rest_.empty()) return true;
    Fail(absl::StrCat(rest_.size(), " unexpected bytes at the end"));
    return false;
  }
  void Fail(absl::string_view what) {
    if (error_.ok()) {
      error_ = absl::InvalidArgumentError(absl::StrCat("malformed ", frame_, " frame: ", what));
    }
  }
  const absl::Status& error() const { return error_; }

 private:
  bool Need(size_t n, absl::string_view field) {
    if (rest_.size() >= n) return true;
    Fail(absl::StrCat("truncated at the ", field));
    return false;
  }

  absl::string_view rest_;
  const absl::string_view frame_;
  absl::Status error_;
};

size_t MetadataBytes(const Metadata* metadata) {
  size_t size = 4;
  if (metadata == nullptr) return size;
  for (const auto& [key, value] : *metadata) size += 8 + key.size() + value.size();
  return size;
}

void WriteMetadata(const Metadata* metadata, FieldWriter* w) {
  w->U32(metadata == nullptr ? 0 : static_cast<uint32_t>(metadata->size()));
  if (metadata == nullptr) return;
  for (const auto& [key, value] : *metadata) {
    w->Str(key);
    w->Str(value);
  }
}

// Appends a header for a body of `body_size` bytes; returns the body's start.
char* StartFrame(FrameKind kind, size_t body_size, FrameBuffer* out) {
  char* at = out->Extend(kFrameHeaderBytes + body_size);
  FieldWriter w(at);
  w.U32(static_cast<uint32_t>(body_size));
  w.U8(static_cast<uint8_t>(kind));
  w.U8(0);
  w.U16(0);
  return w.at();
}

// Large FrameBuffer storage, kept for reuse (see FrameBuffer).
class BufferPool {
 public:
  static BufferPool& Get() {
    static BufferPool* pool = new BufferPool();  // never destroyed
    return *pool;
  }

  // A buffer of at least `size` bytes (and at most twice that), if one is
  // free; its capacity in `*capacity`.
  std::unique_ptr<char[]> Take(size_t size, size_t* capacity) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i) {
      const size_t c = free_[i].second;
      if (c >= size && c / 2 <= size && (best == free_.size() || c < free_[best].second)) best = i;
    }
    if (best == free_.size()) return nullptr;
    std::unique_ptr<char[]> taken = std::move(free_[best].first);
    *capacity = free_[best].second;
    bytes_ -= *capacity;
    free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
    return taken;
  }

  void Give(std::unique_ptr<char[]> buffer, size_t capacity) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() >= kPoolBuffers || bytes_ + capacity > kPoolBytes) return;  // freed
    bytes_ += capacity;
    free_.emplace_back(std::move(buffer), capacity);
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::unique_ptr<char[]>, size_t>> free_;
  size_t bytes_ = 0;
};

}  // namespace

void FrameBuffer::Release() {
  if (data_ != nullptr && capacity_ >= kPooledBufferBytes) {
    BufferPool::Get().Give(std::move(data_), capacity_);
  }
  data_.reset();
  size_ = 0;
  capacity_ = 0;
}

void FrameBuffer::Reserve(size_t capacity) {
  if (capacity <= capacity_) return;
  std::unique_ptr<char[]> grown;
  size_t grown_capacity = capacity;
  if (capacity >= kPooledBufferBytes) grown = BufferPool::Get().Take(capacity, &grown_capacity);
  if (grown == nullptr) {
    grown.reset(new char[capacity]);
    grown_capacity = capacity;
  }
  if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
  const size_t size = size_;
  Release();
  data_ = std::move(grown);
  size_ = size;
  capacity_ = grown_capacity;
}

char* FrameBuffer::Extend(size_t size) {
  if (size_ + size > capacity_) Reserve(std::max({size_ + size, capacity_ * 2, size_t{256}}));
  char* at = data_.get() + size_;
  size_ += size;
  return at;
}

void FrameBuffer::Consume(size_t n) {
  if (n >= size_) {
    size_ = 0;
    return;
  }
  std::memmove(data_.get(), data_.get() + n, size_ - n);
  size_ -= n;
}

void FrameBuffer::ShrinkIfAbove(size_t keep) {
  if (capacity_ <= keep || size_ > 0) return;
  Release();
}

void AppendHello(uint64_t max_request_bytes, uint64_t max_reply_bytes,
                 const std::vector<absl::string_view>& method_paths, FrameBuffer* out) {
  size_t size = 4 + 8 + 8 + 4;
  for (absl::string_view path : method_paths) size += 4 + path.size();
  FieldWriter w(StartFrame(FrameKind::kHello, size, out));
  w.U32(kNativeVersion);
  w.U64(max_request_bytes);
  w.U64(max_reply_bytes);
  w.U32(static_cast<uint32_t>(method_paths.size()));
  for (absl::string_view path : method_paths) w.Str(path);
}

namespace {

// kCall and kStreamOpen.
char* AppendCallFields(FrameKind kind, const CallFields& call, size_t payload_size,
                       FrameBuffer* out) {
  const size_t size =
      8 + 4 + 8 + 8 + 4 + call.request_id.size() + MetadataBytes(call.metadata) + payload_size;
  FieldWriter w(StartFrame(kind, size, out));
  w.U64(call.id);
  w.U32(call.method);
  w.U64(call.timeout_us);
  w.U64(call.replace_after_ms_plus_one);
  w.Str(call.request_id);
  WriteMetadata(call.metadata, &w);
  return w.at();
}

// kCall and kStreamOpen; `frame` names it in errors.
absl::StatusOr<CallView> ParseCallFields(absl::string_view body, absl::string_view frame,
                                         bool with_payload) {
  FieldReader r(body, frame);
  CallView call;
  if (r.U64(&call.id, "id") && r.U32(&call.method, "method index") &&
      r.U64(&call.timeout_us, "timeout") &&
      r.U64(&call.replace_after_ms_plus_one, "replace-after") &&
      r.Str(&call.request_id, "request id") && r.Metadata(&call.metadata)) {
    if (with_payload) {
      call.payload = r.Rest();
    } else {
      r.AtEnd();
    }
    if (r.error().ok() && call.id == 0) r.Fail(absl::StrCat(frame, " id 0"));
  }
  if (!r.error().ok()) return r.error();
  return call;
}

}  // namespace

char* AppendCall(const CallFields& call, size_t payload_size, FrameBuffer* out) {
  return AppendCallFields(FrameKind::kCall, call, payload_size, out);
}

void AppendStreamOpen(const CallFields& call, FrameBuffer* out) {
  AppendCallFields(FrameKind::kStreamOpen, call, 0, out);
}

char* AppendStreamMessage(FrameKind kind, uint64_t id, size_t payload_size, FrameBuffer* out) {
  FieldWriter w(StartFrame(kind, 8 + payload_size, out));
  w.U64(id);
  return w.at();
}

void AppendHalfClose(uint64_t id, FrameBuffer* out) {
  FieldWriter w(StartFrame(FrameKind::kHalfClose, 8, out));
  w.U64(id);
}

void AppendCredit(FrameKind kind, uint64_t id, uint32_t n, FrameBuffer* out) {
  FieldWriter w(StartFrame(kind, 8 + 4, out));
  w.U64(id);
  w.U32(n);
}

char* AppendReply(const ReplyFields& reply, size_t payload_size, FrameBuffer* out) {
  const size_t size = 8 + 4 + 8 + 4 + reply.message.size() + 4 + reply.details.size() +
                      MetadataBytes(reply.metadata) + payload_size;
  FieldWriter w(StartFrame(FrameKind::kReply, size, out));
  w.U64(reply.id);
  w.U32(reply.code);
  w.U64(reply.worker_us);
  w.Str(reply.message);
  w.Str(reply.details);
  WriteMetadata(reply.metadata, &w);
  return w.at();
}

void AppendCancel(uint64_t id, FrameBuffer* out) {
  FieldWriter w(StartFrame(FrameKind::kCancel, 8, out));
  w.U64(id);
}

void AppendGoAway(absl::string_view reason, FrameBuffer* out) {
  FieldWriter w(StartFrame(FrameKind::kGoAway, 4 + reason.size(), out));
  w.Str(reason);
}

absl::StatusOr<FrameHeader> ParseFrameHeader(const char* header, size_t max_body) {
  FrameHeader parsed;
  parsed.body_size = LoadLE<uint32_t>(header);
  const uint8_t kind = static_cast<uint8_t>(header[4]);
  switch (static_cast<FrameKind>(kind)) {
    case FrameKind::kHello:
    case FrameKind::kCall:
    case FrameKind::kCancel:
    case FrameKind::kStreamOpen:
    case FrameKind::kRequestMessage:
    case FrameKind::kHalfClose:
    case FrameKind::kResponseCredit:
    case FrameKind::kReply:
    case FrameKind::kGoAway:
    case FrameKind::kResponseMessage:
    case FrameKind::kRequestCredit:
      parsed.kind = static_cast<FrameKind>(kind);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("malformed frame header: unknown frame kind ", kind));
  }
  if (header[5] != 0 || header[6] != 0 || header[7] != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed frame header: the reserved bytes of a ", FrameKindName(parsed.kind),
                     " frame are not zero"));
  }
  if (parsed.body_size > max_body) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed frame header: a ", FrameKindName(parsed.kind), " frame of ",
                     parsed.body_size, " bytes is over the limit of ", max_body));
  }
  return parsed;
}

absl::StatusOr<HelloView> ParseHello(absl::string_view body) {
  FieldReader r(body, "hello");
  HelloView hello;
  uint32_t n = 0;
  if (r.U32(&hello.version, "version") && r.U64(&hello.max_request_bytes, "request limit") &&
      r.U64(&hello.max_reply_bytes, "reply limit") &&
      r.Count(&n, kMaxFrameMethods, 4, "method count")) {
    hello.method_paths.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      absl::string_view path;
      if (!r.Str(&path, "method path")) break;
      hello.method_paths.push_back(path);
    }
    r.AtEnd();
  }
  if (!r.error().ok()) return r.error();
  return hello;
}

absl::StatusOr<CallView> ParseCall(absl::string_view body) {
  return ParseCallFields(body, "call", /*with_payload=*/true);
}

absl::StatusOr<CallView> ParseStreamOpen(absl::string_view body) {
  return ParseCallFields(body, "stream open", /*with_payload=*/false);
}

absl::StatusOr<StreamMessageView> ParseStreamMessage(FrameKind kind, absl::string_view body) {
  FieldReader r(body, FrameKindName(kind));
  StreamMessageView message;
  if (r.U64(&message.id, "id")) {
    message.payload = r.Rest();
    if (message.id == 0) r.Fail("stream id 0");
  }
  if (!r.error().ok()) return r.error();
  return message;
}

absl::StatusOr<uint64_t> ParseHalfClose(absl::string_view body) {
  FieldReader r(body, "half-close");
  uint64_t id = 0;
  if (r.U64(&id, "id") && r.AtEnd() && id == 0) r.Fail("stream id 0");
  if (!r.error().ok()) return r.error();
  return id;
}

absl::StatusOr<CreditView> ParseCredit(FrameKind kind, absl::string_view body) {
  FieldReader r(body, FrameKindName(kind));
  CreditView credit;
  if (r.U64(&credit.id, "id") && r.U32(&credit.n, "credit") && r.AtEnd()) {
    if (credit.id == 0) {
      r.Fail("stream id 0");
    } else if (credit.n == 0 || credit.n > static_cast<uint32_t>(kStreamWindow)) {
      r.Fail(absl::StrCat("a credit of ", credit.n, " messages (from 1 to ", kStreamWindow, ")"));
    }
  }
  if (!r.error().ok()) return r.error();
  return credit;
}

absl::StatusOr<uint64_t> ParseCancel(absl::string_view body) {
  FieldReader r(body, "cancel");
  uint64_t id = 0;
  if (r.U64(&id, "id") && r.AtEnd() && id == 0) r.Fail("call id 0");
  if (!r.error().ok()) return r.error();
  return id;
}

absl::StatusOr<ReplyView> ParseReply(absl::string_view body) {
  FieldReader r(body, "reply");
  ReplyView reply;
  if (r.U64(&reply.id, "id") && r.U32(&reply.code, "status code") &&
      r.U64(&reply.worker_us, "worker time") && r.Str(&reply.message, "status message") &&
      r.Str(&reply.details, "status details") && r.Metadata(&reply.metadata)) {
    reply.payload = r.Rest();
    if (reply.id == 0) {
      r.Fail("call id 0");
    } else if (reply.code > 16) {
      r.Fail(absl::StrCat("status code ", reply.code, " is not a google.rpc.Code"));
    } else if (reply.code != 0 && !reply.payload.empty()) {
      r.Fail(absl::StrCat("a reply with status code ", reply.code, " carries ",
                          reply.payload.size(), " bytes of message"));
    } else if (reply.code == 0 && !reply.message.empty()) {
      r.Fail("an OK reply carries a status message");
    } else if (reply.code == 0 && !reply.details.empty()) {
      r.Fail("an OK reply carries status details");
    }
  }
  if (!r.error().ok()) return r.error();
  return reply;
}

absl::StatusOr<std::string> ParseGoAway(absl::string_view body) {
  FieldReader r(body, "goaway");
  absl::string_view reason;
  if (r.Str(&reason, "reason")) r.AtEnd();
  if (!r.error().ok()) return r.error();
  return std::string(reason);
}

absl::string_view FrameKindName(FrameKind kind) {
  switch (kind) {
    case FrameKind::kHello:
      return "hello";
    case FrameKind::kCall:
      return "call";
    case FrameKind::kCancel:
      return "cancel";
    case FrameKind::kReply:
      return "reply";
    case FrameKind::kGoAway:
      return "goaway";
    case FrameKind::kStreamOpen:
      return "stream open";
    case FrameKind::kRequestMessage:
      return "request message";
    case FrameKind::kHalfClose:
      return "half-close";
    case FrameKind::kResponseCredit:
      return "response credit";
    case FrameKind::kResponseMessage:
      return "response message";
    case FrameKind::kRequestCredit:
      return "request credit";
  }
  return "unknown";
}

}  // namespace iw::internal
