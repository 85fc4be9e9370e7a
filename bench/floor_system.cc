// "floor": no framework. An 8-byte length header + payload echoed over a Unix
// stream socket by uds_floor_server; pipelined frames are answered together.
// It has no Spin.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/system.h"

namespace iwbench {
namespace harness {
namespace {

constexpr size_t kSmallPayload = 64;
// The stream command's length field (uds_floor_server.cc).
constexpr uint64_t kStreamFrame = ~uint64_t{0};

class FloorConn final : public Conn {
 public:
  FloorConn(pid_t pid, int fd) : pid_(pid), fd_(fd) {
    small_.assign(8 + kSmallPayload, 'p');
    uint64_t length = kSmallPayload;
    std::memcpy(small_.data(), &length, 8);
    reply_.resize(8 + kSmallPayload);
  }
  ~FloorConn() override {
    if (fd_ >= 0) Close();
  }

  void Ping() override {
    WriteAll(fd_, small_.data(), small_.size());
    ReadAll(fd_, reply_.data(), small_.size());
  }
  void IssuePings(int n, std::shared_ptr<Latch> latch) override {
    batch_.clear();
    for (int i = 0; i < n; ++i) batch_.insert(batch_.end(), small_.begin(), small_.end());
    WriteAll(fd_, batch_.data(), batch_.size());  // one write for all n frames
    pending_ += n;
    latch_ = std::move(latch);
  }
  void CollectPings() override {
    size_t bytes = pending_ * small_.size();
    if (batch_reply_.size() < bytes) batch_reply_.resize(bytes);
    ReadAll(fd_, batch_reply_.data(), bytes);
    for (int i = 0; i < pending_; ++i) latch_->CountDown();
    pending_ = 0;
    latch_.reset();
  }
  void PrepareEcho(size_t bytes) override {
    echo_.assign(8 + bytes, 'x');
    uint64_t length = bytes;
    std::memcpy(echo_.data(), &length, 8);
    echo_reply_.resize(8 + bytes);
  }
  void Echo() override {
    WriteAll(fd_, echo_.data(), echo_.size());
    ReadAll(fd_, echo_reply_.data(), echo_reply_.size());
  }
  bool SupportsSpin() const override { return false; }
  void SpinAsync(int64_t, std::function<void()>) override { Die("floor has no Spin"); }
  // The stream command (uds_floor_server.cc), then the frames read in
  // large reads and counted: the cost of the socket alone.
  void ReadStream(int64_t count, size_t payload_bytes, std::chrono::microseconds pause) override {
    uint64_t command[3] = {kStreamFrame, static_cast<uint64_t>(count), payload_bytes};
    WriteAll(fd_, reinterpret_cast<const char*>(command), sizeof(command));
    const size_t frame = 8 + payload_bytes;
    if (stream_.size() < std::max<size_t>(256 << 10, 2 * frame)) {
      stream_.resize(std::max<size_t>(256 << 10, 2 * frame));
    }
    size_t have = 0, at = 0;
    for (int64_t n = 0; n < count;) {
      if (have - at < frame) {
        std::memmove(stream_.data(), stream_.data() + at, have - at);
        have -= at;
        at = 0;
        ssize_t got;
        do {
          got = ::read(fd_, stream_.data() + have, stream_.size() - have);
        } while (got < 0 && errno == EINTR);
        if (got <= 0)
          Die(absl::StrCat("floor stream: read: ", got == 0 ? "EOF" : ::strerror(errno)));
        have += static_cast<size_t>(got);
        continue;
      }
      uint64_t length;
      std::memcpy(&length, stream_.data() + at, 8);
      if (length != payload_bytes) Die(absl::StrCat("floor stream: frame ", n, " of ", length));
      at += frame;
      ++n;
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
    }
    if (at != have) Die("floor stream: bytes after the last frame");
  }
  int pid() const override { return pid_; }
  void Close() override {
    ::close(fd_);  // EOF: the server exits
    fd_ = -1;
    Reap(pid_);
  }

 private:
  pid_t pid_;
  int fd_;
  std::vector<char> small_, reply_, batch_, batch_reply_, echo_, echo_reply_, stream_;
  int pending_ = 0;
  std::shared_ptr<Latch> latch_;
};

class FloorSystem final : public System {
 public:
  FloorSystem(std::string server, std::string socket_dir)
      : server_(std::move(server)), socket_dir_(std::move(socket_dir)) {}
  const char* name() const override { return "floor"; }
  std::unique_ptr<Conn> Start() override {
    std::string path = NewSocketPath(socket_dir_, "floor");
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener, 1) != 0) {
      Die(absl::StrCat("floor bind/listen: ", ::strerror(errno)));
    }
    pid_t pid = Spawn({server_, path}, -1);
    if (!PollIn(listener, 10000)) Die("uds_floor_server did not connect");
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) Die("accept");
    ::close(listener);
    ::unlink(path.c_str());
    return std::make_unique<FloorConn>(pid, fd);
  }

 private:
  std::string server_;
  std::string socket_dir_;
};

}  // namespace

std::unique_ptr<System> MakeFloorSystem(std::string server, std::string socket_dir) {
  return std::make_unique<FloorSystem>(std::move(server), std::move(socket_dir));
}

}  // namespace harness
}  // namespace iwbench
