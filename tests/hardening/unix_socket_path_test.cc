// Unit tests of the standalone worker's socket path checks.
#include "runtime/transport/unix_socket_path.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "catch2/catch.hpp"
#include "runtime/process/unique_fd.h"
#include "tests/hardening/hardening_util.h"
#include "tests/testing/status_matchers.h"

namespace iw::internal {
namespace {

using ::iw::testing::IsOk;
using ::iw::testing::ShortTempDir;
using ::iw::testing::StatusIs;

// Binds (and optionally listens on) a Unix socket at `path`.
UniqueFd BindSocket(const std::string& path, bool listen) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd.valid());
  struct sockaddr_un address;
  std::memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  if (listen) REQUIRE(::listen(fd.get(), 4) == 0);
  return fd;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

TEST_CASE("CheckUnixSocketPath: the platform limit is sun_path, 108 bytes on Linux",
          "[hardening]") {
#ifdef __linux__
  CHECK(MaxUnixSocketPathBytes() == 108);
#endif
  const std::string longest = "/" + std::string(MaxUnixSocketPathBytes() - 2, 'a');
  CHECK_THAT(CheckUnixSocketPath(longest), IsOk());
}

TEST_CASE("CheckUnixSocketPath: a path one byte too long is refused, naming it and the limit",
          "[hardening]") {
  const std::string too_long = "/" + std::string(MaxUnixSocketPathBytes() - 1, 'b');
  absl::Status status = CheckUnixSocketPath(too_long);
  CHECK_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, too_long));
  CHECK_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                              absl::StrCat("is ", too_long.size(), " bytes")));
  CHECK_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                              absl::StrCat(MaxUnixSocketPathBytes(), " with the terminating NUL")));
}

TEST_CASE("CheckUnixSocketPath: empty paths and embedded NULs are refused", "[hardening]") {
  CHECK_THAT(CheckUnixSocketPath(""), StatusIs(absl::StatusCode::kInvalidArgument, "empty"));
  CHECK_THAT(CheckUnixSocketPath(absl::string_view("/tmp/a\0b", 8)),
             StatusIs(absl::StatusCode::kInvalidArgument, "NUL"));
}

TEST_CASE("RemoveStaleUnixSocket: a missing path is fine", "[hardening]") {
  ShortTempDir dir;
  CHECK_THAT(RemoveStaleUnixSocket(dir.path() + "/none"), IsOk());
}

TEST_CASE("RemoveStaleUnixSocket: a socket nobody listens on is removed", "[hardening]") {
  ShortTempDir dir;
  const std::string path = dir.path() + "/stale.sock";
  {
    UniqueFd bound = BindSocket(path, /*listen=*/true);
  }  // closed: the file stays, like after a worker was killed
  REQUIRE(Exists(path));
  CHECK_THAT(RemoveStaleUnixSocket(path), IsOk());
  CHECK_FALSE(Exists(path));
}

TEST_CASE("RemoveStaleUnixSocket: a socket someone listens on is left alone", "[hardening]") {
  ShortTempDir dir;
  const std::string path = dir.path() + "/live.sock";
  UniqueFd live = BindSocket(path, /*listen=*/true);
  CHECK_THAT(RemoveStaleUnixSocket(path),
             StatusIs(absl::StatusCode::kFailedPrecondition, "already listening"));
  CHECK(Exists(path));
}

TEST_CASE("RemoveStaleUnixSocket: a regular file at the path is never removed", "[hardening]") {
  ShortTempDir dir;
  const std::string path = dir.path() + "/precious.txt";
  { std::ofstream(path) << "data"; }
  CHECK_THAT(RemoveStaleUnixSocket(path),
             StatusIs(absl::StatusCode::kFailedPrecondition, "is not a socket"));
  CHECK(Exists(path));
}

}  // namespace
}  // namespace iw::internal
