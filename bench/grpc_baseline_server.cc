// The raw gRPC C++ baseline: the Bench service as a competent user would
// write it with plain gRPC 1.51 — a callback (CallbackService) server on a
// Unix socket in a private temp dir, 64 MiB message limits, and a readiness
// byte on an inherited pipe (no connect-retry on the client side).
//
//   grpc_baseline_server SOCKET_PATH READY_FD
//
// Writes one byte to READY_FD once the server is listening, then serves
// until SIGTERM or SIGINT, then shuts down (1 s grace) and exits 0.
#include <signal.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "bench/bench.grpc.pb.h"
#include "bench/spin.h"

namespace {

constexpr int kMaxMessageBytes = 64 << 20;

class BenchService final : public iwbench::Bench::CallbackService {
 public:
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context,
                                 const iwbench::PingRequest* request,
                                 iwbench::PingReply* reply) override {
    reply->set_t(request->t());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const iwbench::EchoRequest* request,
                                 iwbench::EchoReply* reply) override {
    reply->set_data(request->data());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* Spin(grpc::CallbackServerContext* context,
                                 const iwbench::SpinRequest* request,
                                 iwbench::SpinReply* reply) override {
    reply->set_result(iwbench::SpinWork(request->iterations()));
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<iwbench::StreamReply>* ServerStream(
      grpc::CallbackServerContext* /*context*/, const iwbench::StreamRequest* request) override {
    return new StreamWriter(*request);
  }

 private:
  // The callback API's idiom for server streaming: one write in flight, the
  // next one started from OnWriteDone, the last one together with Finish.
  class StreamWriter final : public grpc::ServerWriteReactor<iwbench::StreamReply> {
   public:
    explicit StreamWriter(const iwbench::StreamRequest& request) : count_(request.count()) {
      reply_.set_data(std::string(static_cast<size_t>(request.payload_bytes()), 's'));
      WriteNext();
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {  // the client went away or cancelled
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "reader gone"));
        return;
      }
      WriteNext();
    }
    void OnDone() override { delete this; }

   private:
    void WriteNext() {
      if (next_ == count_) {
        Finish(grpc::Status::OK);  // count_ == 0 only
        return;
      }
      reply_.set_seq(next_++);
      if (next_ == count_) {
        StartWriteAndFinish(&reply_, grpc::WriteOptions(), grpc::Status::OK);
      } else {
        StartWrite(&reply_);
      }
    }

    const int64_t count_;
    int64_t next_ = 0;
    iwbench::StreamReply reply_;
  };
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SOCKET_PATH READY_FD\n", argv[0]);
    return 2;
  }
  const std::string address = std::string("unix:") + argv[1];
  const int ready_fd = std::atoi(argv[2]);
  // Profiling experiment only (see bench_worker.cc).
  if (std::getenv("IWBENCH_NO_DEADLOCK_DETECTION") != nullptr) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }

  // Block the termination signals before gRPC starts its threads, so that
  // only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  BenchService service;
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    std::fprintf(stderr, "grpc_baseline_server: cannot listen on %s\n", address.c_str());
    return 1;
  }
  char ready = 'R';
  if (::write(ready_fd, &ready, 1) != 1) return 1;
  ::close(ready_fd);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  return 0;
}
