// A TestService "worker" that breaks the native carrier's protocol: it does
// the real ready handshake (kReadyNative with the real schema), reads the
// host's hello and first call, then misbehaves as argv[1] says:
//
//   reply-to-unsent     a reply to a call id the host never sent
//   garbage-header      8 bytes that are no frame header
//   error-with-payload  a reply with an error code that carries a message
//   hello-frame         a hello frame (only the host sends those)
//   call-frame          a call frame (only the host sends those)
//   goaway              a GoAway "because"
//   close-mid-frame     half a reply, then it closes the call socket
//   exit                exits with code 3
//   echo                behaves: answers every call with an empty EchoReply
//
// With $ROGUE_ONCE_MARKER set, it misbehaves only while that file does not
// exist (and creates it): the worker that replaces it behaves (echo).
//
// Then it stays until the host kills it or closes the control channel (at
// most 30 s), so that only the host's reaction ends it.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/process/unique_fd.h"
#include "runtime/transport/frame_socket.h"
#include "runtime/transport/peer_credentials.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/native_frames.h"
#include "runtime/wire/schema.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::internal::FrameBuffer;
using iw::internal::FrameKind;
using iw::internal::FrameSocket;
using iw::internal::InFrame;

constexpr size_t kMaxBody = (size_t{64} << 20) + iw::internal::kFrameFieldsSlack;

int Fail(const char* what) {
  std::fprintf(stderr, "rogue_native_worker: %s\n", what);
  return 1;
}

// Reads frames until `*frames` holds `count` of them (or EOF, or 30 s).
bool ReadFrames(FrameSocket& socket, size_t count, std::vector<InFrame>* frames) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (frames->size() < count) {
    struct pollfd fds = {socket.fd(), POLLIN, 0};
    const int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0 || ::poll(&fds, 1, left) < 0) return false;
    if (!socket.Read(kMaxBody, frames).ok()) return false;
  }
  return true;
}

void WriteAll(FrameSocket& socket, FrameBuffer* frames) {
  FrameSocket::WriteResult result = socket.Write(frames);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (result == FrameSocket::WriteResult::kBlocked || socket.blocked()) {
    struct pollfd fds = {socket.fd(), POLLOUT, 0};
    if (absl::Now() > deadline || ::poll(&fds, 1, 100) < 0) return;
    result = socket.Flush();
  }
}

// Until the host kills us or closes the control channel, at most 30 s.
void AwaitTheEnd() {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    struct pollfd fds = {iw::internal::kWorkerControlFd, POLLIN, 0};
    if (::poll(&fds, 1, 100) > 0) {
      char byte;
      // EOF, or the shutdown request: the host is done with us.
      if (::read(iw::internal::kWorkerControlFd, &byte, 1) <= 0 ||
          byte == static_cast<char>(iw::internal::kShutdown)) {
        return;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("usage: rogue_native_worker MODE");
  absl::string_view mode = argv[1];
  if (const char* once = std::getenv("ROGUE_ONCE_MARKER"); once != nullptr) {
    const int fd = ::open(once, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
      mode = "echo";  // misbehaved once already
    } else {
      ::close(fd);
    }
  }
  const iw::codegen::ServiceInfo& service = iwtest::iw_internal::kTestServiceService;
  if (!iw::internal::SendReady(iw::internal::kWorkerControlFd,
                               iw::internal::EncodeSchema(iw::internal::SchemaOf(service)),
                               /*native=*/true)
           .ok()) {
    return Fail("cannot send the ready message");
  }
  FrameSocket socket{iw::internal::UniqueFd(iw::internal::kWorkerGrpcFd)};
  std::vector<InFrame> frames;
  if (!ReadFrames(socket, 2, &frames)) return Fail("no hello and call came");
  if (frames[0].kind != FrameKind::kHello || frames[1].kind != FrameKind::kCall) {
    return Fail("the host did not send a hello and then a call");
  }
  absl::StatusOr<iw::internal::CallView> call = iw::internal::ParseCall(frames[1].body());
  if (!call.ok()) return Fail("the host's call does not parse");

  FrameBuffer out;
  iw::internal::ReplyFields reply;
  reply.id = call->id;
  if (mode == "reply-to-unsent") {
    reply.id = call->id + 1000;
    iw::internal::AppendReply(reply, 0, &out);
  } else if (mode == "garbage-header") {
    std::memcpy(out.Extend(8), "\x10\x00\x00\x00\x99\x00\x00\x00", 8);
  } else if (mode == "error-with-payload") {
    reply.code = 13;
    reply.message = "internal";
    std::memcpy(iw::internal::AppendReply(reply, 5, &out), "oops!", 5);
  } else if (mode == "hello-frame") {
    iw::internal::AppendHello(1024, 1024, {"/iwtest.TestService/Echo"}, &out);
  } else if (mode == "call-frame") {
    iw::internal::CallFields fields;
    fields.id = 1;
    iw::internal::AppendCall(fields, 0, &out);
  } else if (mode == "goaway") {
    iw::internal::AppendGoAway("because", &out);
  } else if (mode == "close-mid-frame") {
    iw::internal::AppendReply(reply, 100, &out);
    out.SetSize(out.size() - 90);  // the header and 10 bytes of 110
    WriteAll(socket, &out);
    ::shutdown(socket.fd(), SHUT_RDWR);
    AwaitTheEnd();
    return 0;
  } else if (mode == "exit") {
    ::_exit(3);
  } else if (mode == "echo") {
    // Well-behaved: answers every call until the host closes the socket.
    while (true) {
      for (size_t i = 1; i < frames.size(); ++i) {
        if (frames[i].kind != FrameKind::kCall) continue;
        absl::StatusOr<iw::internal::CallView> each = iw::internal::ParseCall(frames[i].body());
        if (!each.ok()) return Fail("a call does not parse");
        reply.id = each->id;
        iw::internal::AppendReply(reply, 0, &out);
      }
      WriteAll(socket, &out);
      out.clear();
      frames.clear();
      frames.emplace_back();  // keeps ReadFrames waiting for one more
      if (!ReadFrames(socket, 2, &frames)) return 0;
    }
  } else {
    return Fail("unknown mode");
  }
  WriteAll(socket, &out);
  AwaitTheEnd();
  return 0;
}
