#include "runtime/transport/peer_credentials.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/wire/control_protocol.h"

namespace iw::internal {

absl::Status SendReady(int control_fd, absl::string_view schema, bool native) {
  if (schema.size() > UINT16_MAX) {
    return absl::InvalidArgumentError("send ready message: schema over 65535 bytes");
  }
  std::string bytes(1, static_cast<char>(kReady));
  if (!schema.empty()) {
    bytes[0] = static_cast<char>(native ? kReadyNative : kReadyWithSchema);
    const uint16_t size = static_cast<uint16_t>(schema.size());
    bytes.append(reinterpret_cast<const char*>(&size), sizeof(size));
    bytes.append(schema.data(), schema.size());
  }
  struct iovec iov = {bytes.data(), bytes.size()};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred))];
  std::memset(control, 0, sizeof(control));
  struct msghdr message;
  std::memset(&message, 0, sizeof(message));
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  struct cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_CREDENTIALS;
  header->cmsg_len = CMSG_LEN(sizeof(struct ucred));
  struct ucred credentials;
  credentials.pid = ::getpid();
  credentials.uid = ::getuid();
  credentials.gid = ::getgid();
  std::memcpy(CMSG_DATA(header), &credentials, sizeof(credentials));
  ssize_t n;
  do {
    n = ::sendmsg(control_fd, &message, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return absl::ErrnoToStatus(n < 0 ? errno : EIO, "send ready message");
  // The rest of a long schema frame, if the socket took only part of it.
  for (size_t sent = static_cast<size_t>(n); sent < bytes.size();) {
    n = ::send(control_fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::ErrnoToStatus(n < 0 ? errno : EIO, "send ready message");
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status EnablePeerCredentials(int control_fd) {
  int on = 1;
  if (::setsockopt(control_fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0) {
    return absl::ErrnoToStatus(errno, "setsockopt(SO_PASSCRED) on the control socket");
  }
  return absl::OkStatus();
}

absl::StatusOr<ReadyState> ReceiveReady(int control_fd, pid_t expected_pid) {
  uint8_t byte = 0;
  struct iovec iov = {&byte, 1};
  // Room for credentials plus anything unexpected (e.g. SCM_RIGHTS sent by an
  // impostor: MSG_CMSG_CLOEXEC keeps such descriptors from leaking further;
  // we close them below).
  alignas(
      struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int))];
  struct msghdr message;
  std::memset(&message, 0, sizeof(message));
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  ssize_t n = ::recvmsg(control_fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return ReadyState::kPending;
    }
    return absl::ErrnoToStatus(errno, "read the worker's ready message");
  }
  if (n == 0) return ReadyState::kClosed;

  const struct ucred* credentials = nullptr;
  for (struct cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET) continue;
    if (header->cmsg_type == SCM_CREDENTIALS &&
        header->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
      credentials = reinterpret_cast<const struct ucred*>(CMSG_DATA(header));
    } else if (header->cmsg_type == SCM_RIGHTS) {
      size_t fd_count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < fd_count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
        ::close(fd);
      }
    }
  }
  if (credentials == nullptr) {
    return absl::PermissionDeniedError(
        "the worker's ready message carried no credentials (SCM_CREDENTIALS); "
        "is SO_PASSCRED set on the host's control socket?");
  }
  struct ucred sender;
  std::memcpy(&sender, credentials, sizeof(sender));
  const uid_t our_uid = ::getuid();
  if (sender.pid != expected_pid || sender.uid != our_uid) {
    return absl::PermissionDeniedError(
        absl::StrCat("the ready message came from pid ", sender.pid, " uid ", sender.uid,
                     ", expected the spawned worker: pid ", expected_pid, " uid ", our_uid,
                     "; refusing to talk to a process we did not start"));
  }
  if (byte == kReadyWithSchema) return ReadyState::kReadyWithSchema;
  if (byte == kReadyNative) return ReadyState::kReadyNative;
  if (byte != kReady) {
    return absl::InternalError(
        absl::StrCat("protocol error: the worker sent byte ", static_cast<int>(byte),
                     " on the control socket, expected the ready byte ", static_cast<int>(kReady)));
  }
  return ReadyState::kReady;
}

namespace {

// Reads exactly `size` bytes into `out` by `deadline`.
absl::Status ReadExactly(int fd, char* out, size_t size, absl::Time deadline) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::recv(fd, out + done, size - done, MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      return absl::UnavailableError("the worker closed its control socket mid-message");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::ErrnoToStatus(errno, "read the worker's schema");
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("the worker's schema did not arrive in time");
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    ::poll(&pfd, 1,
           static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)))));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReceiveSchema(int control_fd, absl::Time deadline) {
  uint16_t size = 0;
  if (absl::Status s =
          ReadExactly(control_fd, reinterpret_cast<char*>(&size), sizeof(size), deadline);
      !s.ok()) {
    return s;
  }
  std::string schema(size, '\0');
  if (absl::Status s = ReadExactly(control_fd, schema.data(), size, deadline); !s.ok()) {
    return s;
  }
  return schema;
}

}  // namespace iw::internal
