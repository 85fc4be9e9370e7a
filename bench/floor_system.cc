// "floor": no framework. An 8-byte length header + payload echoed over a Unix
// stream socket by uds_floor_server; pipelined frames are answered together.
// It has no Spin.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/system.h"

namespace iwbench {
namespace harness {
namespace {

constexpr size_t kSmallPayload = 64;

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
  int pid() const override { return pid_; }
  void Close() override {
    ::close(fd_);  // EOF: the server exits
    fd_ = -1;
    Reap(pid_);
  }

 private:
  pid_t pid_;
  int fd_;
  std::vector<char> small_, reply_, batch_, batch_reply_, echo_, echo_reply_;
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
