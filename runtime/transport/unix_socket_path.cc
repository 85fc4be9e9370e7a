#include "runtime/transport/unix_socket_path.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "runtime/process/unique_fd.h"

namespace iw::internal {

size_t MaxUnixSocketPathBytes() { return sizeof(sockaddr_un{}.sun_path); }

absl::Status CheckUnixSocketPath(absl::string_view path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("the Unix socket path is empty");
  }
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Unix socket path \"", absl::CEscape(path), "\" contains a NUL byte"));
  }
  const size_t limit = MaxUnixSocketPathBytes();
  if (path.size() + 1 > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Unix socket path \"", path, "\" is ", path.size(),
                     " bytes; Unix socket paths are limited to ", limit - 1, " bytes (", limit,
                     " with the terminating NUL) on this platform. Use a shorter path, e.g. in "
                     "a private directory under /tmp"));
  }
  return absl::OkStatus();
}

absl::Status RemoveStaleUnixSocket(const std::string& path) {
  if (absl::Status s = CheckUnixSocketPath(path); !s.ok()) return s;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  struct sockaddr_un address;
  std::memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  int r;
  do {
    r = ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (r != 0 && errno == EINTR);
  if (r == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another process is already listening on ", path));
  }
  if (errno != ECONNREFUSED) {
    // EACCES, EAGAIN (a full backlog: someone listens), ...: not provably
    // stale, so leave it alone.
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot tell whether the socket ", path, " is stale"));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("remove the stale socket ", path));
  }
  return absl::OkStatus();
}

}  // namespace iw::internal
