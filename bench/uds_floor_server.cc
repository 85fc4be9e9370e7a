// The raw Unix-socket floor: connects to SOCKET_PATH and echoes frames
// (8-byte host-order length + payload) until the peer closes the socket.
//
//   uds_floor_server SOCKET_PATH
//
// Replies are byte-identical to requests, so the server reads whatever is
// available, and writes back every complete frame in one write (pipelined
// frames are answered together, as the kernel coalesces them).
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
    return 2;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, argv[1], sizeof(addr.sun_path) - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("uds_floor_server: connect");
    return 1;
  }
  std::vector<char> buffer(1 << 20);
  size_t have = 0;
  while (true) {
    if (have == buffer.size()) buffer.resize(buffer.size() * 2);
    ssize_t n = ::read(fd, buffer.data() + have, buffer.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;  // the host closed: exit
    have += static_cast<size_t>(n);
    // Find the end of the last complete frame.
    size_t end = 0;
    while (have - end >= 8) {
      uint64_t length;
      std::memcpy(&length, buffer.data() + end, 8);
      if (have - end - 8 < length) {
        if (8 + length > buffer.size()) buffer.resize(end + 8 + length);
        break;
      }
      end += 8 + length;
    }
    if (end == 0) continue;
    if (!WriteAll(fd, buffer.data(), end)) return 1;
    std::memmove(buffer.data(), buffer.data() + end, have - end);
    have -= end;
  }
}
