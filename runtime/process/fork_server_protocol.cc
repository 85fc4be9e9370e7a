#include "runtime/process/fork_server_protocol.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace iw::internal {

absl::Status SendForkMessage(int socket, const void* data, size_t size,
                             const std::vector<int>& fds) {
  if (fds.size() > static_cast<size_t>(kForkMaxFds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fork server: ", fds.size(), " descriptors, at most ", kForkMaxFds));
  }
  struct iovec iov = {const_cast<void*>(data), size};
  struct msghdr msg;
  ::memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kForkMaxFds)];
  if (!fds.empty()) {
    ::memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    ::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return absl::ErrnoToStatus(errno, "fork server: sendmsg()");
  return absl::OkStatus();
}

absl::StatusOr<ForkMessage> ReceiveForkMessage(int socket) {
  ForkMessage out;
  out.bytes.resize(kForkMaxMessage);
  struct iovec iov = {out.bytes.data(), out.bytes.size()};
  struct msghdr msg;
  ::memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kForkMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return absl::ErrnoToStatus(errno, "fork server: recvmsg()");
  for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      ::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      out.fds.emplace_back(fd);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    return absl::DataLossError(absl::StrCat("fork server: a message of more than ", kForkMaxMessage,
                                            " bytes or ", kForkMaxFds, " descriptors was cut"));
  }
  out.bytes.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace iw::internal
