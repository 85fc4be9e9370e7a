// The raw Unix-socket floor: connects to SOCKET_PATH and echoes frames
// (8-byte host-order length + payload) until the peer closes the socket.
//
//   uds_floor_server SOCKET_PATH
//
// Replies are byte-identical to requests, so the server reads whatever is
// available, and writes back every complete frame in one write (pipelined
// frames are answered together, as the kernel coalesces them).
//
// One frame is a command instead: length kStreamFrame, then COUNT and
// PAYLOAD_BYTES (8 bytes each, host order). The server answers it with
// COUNT frames of PAYLOAD_BYTES each, written in 64 KiB chunks as fast as
// the socket takes them (the floor of a server stream).
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
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

// Marks a stream command (see the top of the file).
constexpr uint64_t kStreamFrame = ~uint64_t{0};
constexpr size_t kStreamCommandBytes = 8 + 16;

bool WriteStream(int fd, uint64_t count, uint64_t payload_bytes) {
  const size_t frame = 8 + payload_bytes;
  const uint64_t per_chunk = std::max<uint64_t>(1, (64 << 10) / frame);
  std::vector<char> chunk(std::min(count, per_chunk) * frame, 's');
  for (size_t at = 0; at < chunk.size(); at += frame) {
    std::memcpy(chunk.data() + at, &payload_bytes, 8);
  }
  for (uint64_t left = count; left > 0;) {
    const uint64_t n = std::min(left, per_chunk);
    if (!WriteAll(fd, chunk.data(), n * frame)) return false;
    left -= n;
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
      if (length == kStreamFrame) {
        if (have - end < kStreamCommandBytes) break;
        // Echo the frames before it, then stream, then go on after it.
        if (end > 0 && !WriteAll(fd, buffer.data(), end)) return 1;
        uint64_t count, payload_bytes;
        std::memcpy(&count, buffer.data() + end + 8, 8);
        std::memcpy(&payload_bytes, buffer.data() + end + 16, 8);
        if (!WriteStream(fd, count, payload_bytes)) return 1;
        end += kStreamCommandBytes;
        std::memmove(buffer.data(), buffer.data() + end, have - end);
        have -= end;
        end = 0;
        continue;
      }
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
