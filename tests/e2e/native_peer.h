// The other end of a native-carrier connection, played by a test or a fuzz
// target: raw frames out (built with the wire/native_frames.h codec, or any
// bytes at all), frames in, every wait bounded by a deadline.
#ifndef IW_TESTS_E2E_NATIVE_PEER_H_
#define IW_TESTS_E2E_NATIVE_PEER_H_

#include <poll.h>
#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/metadata.h"
#include "runtime/process/unique_fd.h"
#include "runtime/transport/frame_socket.h"
#include "runtime/wire/native_frames.h"

namespace iw::testing {

// A reply frame, parsed and copied out of its frame.
struct PeerReply {
  uint64_t id = 0;
  uint32_t code = 0;
  std::string message;
  std::string details;
  Metadata metadata;
  std::string payload;
};

class NativePeer {
 public:
  // Takes `fd`, one end of a connected stream socket (made non-blocking).
  explicit NativePeer(internal::UniqueFd fd) : socket_(std::move(fd)) {}

  int fd() const { return socket_.fd(); }

  // Writes all of `bytes` (whole frames or not) by `deadline`. False if the
  // socket broke or stayed full until then.
  bool Send(internal::FrameBuffer* bytes, absl::Time deadline) {
    internal::FrameSocket::WriteResult result = socket_.Write(bytes);
    while (result == internal::FrameSocket::WriteResult::kBlocked || socket_.blocked()) {
      if (!PollFor(POLLOUT, deadline)) return false;
      result = socket_.Flush();
    }
    return result != internal::FrameSocket::WriteResult::kBroken;
  }
  bool Send(internal::FrameBuffer bytes, absl::Time deadline) { return Send(&bytes, deadline); }
  // Writes raw bytes.
  bool SendBytes(absl::string_view bytes, absl::Time deadline) {
    internal::FrameBuffer buffer;
    if (!bytes.empty()) std::memcpy(buffer.Extend(bytes.size()), bytes.data(), bytes.size());
    return Send(&buffer, deadline);
  }
  // Half-closes: the other end reads EOF after what was written.
  void CloseWrites() { socket_.CloseWrites(); }

  // The next frame; UNAVAILABLE ("connection closed...") at EOF, another
  // read error, or DEADLINE_EXCEEDED if none came by `deadline`.
  absl::StatusOr<internal::InFrame> Next(absl::Time deadline) {
    while (frames_.empty()) {
      if (!error_.ok()) return error_;
      if (!PollFor(POLLIN, deadline)) {
        return absl::DeadlineExceededError("no frame came before the deadline");
      }
      std::vector<internal::InFrame> frames;
      absl::Status read = socket_.Read(kMaxBody, &frames);
      for (internal::InFrame& frame : frames) frames_.push_back(std::move(frame));
      if (!read.ok()) error_ = read;
    }
    internal::InFrame frame = std::move(frames_.front());
    frames_.pop_front();
    return frame;
  }

  static constexpr size_t kMaxBody = (size_t{64} << 20) + internal::kFrameFieldsSlack;

 private:
  bool PollFor(short events, absl::Time deadline) {
    while (true) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      struct pollfd fds = {socket_.fd(), events, 0};
      const int n = ::poll(
          &fds, 1,
          static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)))));
      if (n > 0) return true;
    }
  }

  internal::FrameSocket socket_;
  std::deque<internal::InFrame> frames_;
  absl::Status error_;
};

// Frame builders around the codec.
inline internal::FrameBuffer HelloFrame(const codegen::ServiceInfo& service,
                                        uint64_t max_request = 64 << 20,
                                        uint64_t max_reply = 64 << 20) {
  std::vector<absl::string_view> paths;
  for (int i = 0; i < service.method_count; ++i) paths.emplace_back(service.methods[i].path);
  internal::FrameBuffer out;
  internal::AppendHello(max_request, max_reply, paths, &out);
  return out;
}

inline internal::FrameBuffer HelloFrame(const std::vector<absl::string_view>& paths,
                                        uint64_t max_request = 64 << 20,
                                        uint64_t max_reply = 64 << 20) {
  internal::FrameBuffer out;
  internal::AppendHello(max_request, max_reply, paths, &out);
  return out;
}

inline internal::FrameBuffer CallFrame(const internal::CallFields& fields,
                                       const google::protobuf::MessageLite& request) {
  internal::FrameBuffer out;
  const size_t size = request.ByteSizeLong();
  char* payload = internal::AppendCall(fields, size, &out);
  request.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(payload));
  return out;
}

inline internal::FrameBuffer CallFrame(uint64_t id, uint32_t method,
                                       const google::protobuf::MessageLite& request) {
  internal::CallFields fields;
  fields.id = id;
  fields.method = method;
  return CallFrame(fields, request);
}

inline internal::FrameBuffer CancelFrame(uint64_t id) {
  internal::FrameBuffer out;
  internal::AppendCancel(id, &out);
  return out;
}

// A reply frame of `frame`, copied; INVALID_ARGUMENT if it is not one.
inline absl::StatusOr<PeerReply> ReplyOf(const internal::InFrame& frame) {
  if (frame.kind != internal::FrameKind::kReply) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", internal::FrameKindName(frame.kind), " frame, not a reply"));
  }
  absl::StatusOr<internal::ReplyView> view = internal::ParseReply(frame.body());
  if (!view.ok()) return view.status();
  PeerReply reply;
  reply.id = view->id;
  reply.code = view->code;
  reply.message = std::string(view->message);
  reply.details = std::string(view->details);
  for (const auto& [key, value] : view->metadata) {
    reply.metadata.emplace(std::string(key), std::string(value));
  }
  reply.payload = std::string(view->payload);
  return reply;
}

}  // namespace iw::testing

#endif  // IW_TESTS_E2E_NATIVE_PEER_H_
