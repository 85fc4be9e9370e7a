// "grpc": what a competent user writes with plain gRPC C++: the stock
// generated stub over a Unix socket to grpc_baseline_server (a callback
// server), 64 MiB message limits, a deadline on every call. Sync API for
// latency and payloads, callback API for throughput.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "bench/bench.grpc.pb.h"
#include "bench/system.h"

namespace iwbench {
namespace harness {
namespace {

constexpr int kMaxMessageBytes = 64 << 20;

std::chrono::system_clock::time_point DeadlineIn(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

class GrpcConn final : public Conn {
 public:
  GrpcConn(pid_t pid, std::string path) : pid_(pid), path_(std::move(path)) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    channel_ = grpc::CreateCustomChannel("unix:" + path_, grpc::InsecureChannelCredentials(), args);
    stub_ = Bench::NewStub(channel_);
  }

  void Ping() override {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(10));
    PingRequest request;
    request.set_t(1);
    PingReply reply;
    grpc::Status status = stub_->Ping(&context, request, &reply);
    if (!status.ok()) Die("grpc Ping: " + status.error_message());
  }
  void IssuePings(int n, std::shared_ptr<Latch> latch) override {
    struct Call {
      grpc::ClientContext context;
      PingRequest request;
      PingReply reply;
    };
    for (int i = 0; i < n; ++i) {
      auto* call = new Call;
      call->context.set_deadline(DeadlineIn(10));
      call->request.set_t(i);
      stub_->async()->Ping(&call->context, &call->request, &call->reply,
                           [call, latch](grpc::Status status) {
                             if (!status.ok()) Die("grpc async Ping: " + status.error_message());
                             delete call;
                             latch->CountDown();
                           });
    }
  }
  void PrepareEcho(size_t bytes) override { echo_.set_data(std::string(bytes, 'x')); }
  void Echo() override {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(60));
    EchoReply reply;
    grpc::Status status = stub_->Echo(&context, echo_, &reply);
    if (!status.ok()) Die("grpc Echo: " + status.error_message());
    if (reply.data().size() != echo_.data().size()) Die("grpc Echo: wrong size");
  }
  void SpinAsync(int64_t iterations, std::function<void()> done) override {
    struct Call {
      grpc::ClientContext context;
      SpinRequest request;
      SpinReply reply;
    };
    auto* call = new Call;
    call->context.set_deadline(DeadlineIn(60));
    call->request.set_iterations(iterations);
    stub_->async()->Spin(&call->context, &call->request, &call->reply,
                         [call, done = std::move(done)](grpc::Status status) {
                           if (!status.ok()) Die("grpc Spin: " + status.error_message());
                           delete call;
                           done();
                         });
  }
  // The sync API's ClientReader: the idiomatic way to read one server
  // stream from one thread.
  void ReadStream(int64_t count, size_t payload_bytes, std::chrono::microseconds pause) override {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(600));
    StreamRequest request;
    request.set_count(count);
    request.set_payload_bytes(static_cast<int64_t>(payload_bytes));
    std::unique_ptr<grpc::ClientReader<StreamReply>> reader =
        stub_->ServerStream(&context, request);
    StreamReply reply;
    int64_t n = 0;
    while (reader->Read(&reply)) {
      if (reply.seq() != n || reply.data().size() != payload_bytes) {
        Die("grpc ServerStream: wrong message " + std::to_string(n));
      }
      ++n;
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) Die("grpc ServerStream: " + status.error_message());
    if (n != count) Die("grpc ServerStream: " + std::to_string(n) + " messages");
  }
  int pid() const override { return pid_; }
  void Close() override {
    stub_.reset();
    channel_.reset();
    ::kill(pid_, SIGTERM);
    Reap(pid_);
    ::unlink(path_.c_str());
  }

 private:
  pid_t pid_;
  std::string path_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Bench::Stub> stub_;
  EchoRequest echo_;
};

class GrpcSystem final : public System {
 public:
  GrpcSystem(std::string server, std::string socket_dir)
      : server_(std::move(server)), socket_dir_(std::move(socket_dir)) {}
  const char* name() const override { return "grpc"; }
  std::unique_ptr<Conn> Start() override {
    std::string path = NewSocketPath(socket_dir_, "grpc");
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) Die("pipe2");
    // A descriptor number that cannot collide with fd 3 (dup2 onto itself
    // would keep FD_CLOEXEC).
    int ready_write = ::fcntl(ready[1], F_DUPFD_CLOEXEC, 10);
    ::close(ready[1]);
    pid_t pid = Spawn({server_, path, "3"}, ready_write);
    ::close(ready_write);
    char byte;
    if (!PollIn(ready[0], 10000) || ::read(ready[0], &byte, 1) != 1) {
      Die("grpc_baseline_server did not become ready");
    }
    ::close(ready[0]);
    return std::make_unique<GrpcConn>(pid, path);
  }

 private:
  std::string server_;
  std::string socket_dir_;
};

}  // namespace

std::unique_ptr<System> MakeGrpcSystem(std::string server, std::string socket_dir) {
  return std::make_unique<GrpcSystem>(std::move(server), std::move(socket_dir));
}

}  // namespace harness
}  // namespace iwbench
