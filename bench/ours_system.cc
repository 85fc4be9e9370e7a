// "ours", "ours_grpc", "ours_inline" and "ours_grpc_inline": the generated
// iwbench::BenchHost talking to bench_worker, default options but for
// WorkerOptions::transport (kNative for ours*, kGrpc for ours_grpc*);
// "ours_fork": native, workers forked by a fork server (StartMode).
#include <cstdio>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bench/bench.iw.h"
#include "bench/system.h"

namespace iwbench {
namespace harness {
namespace {

class OursConn final : public Conn {
 public:
  // `inline_ping`: Ping() and IssuePings() call PingInline (an
  // (iw.method).inline_handler method) instead of Ping.
  explicit OursConn(std::unique_ptr<BenchHost> host, bool inline_ping = false)
      : host_(std::move(host)), inline_ping_(inline_ping) {}

  void Ping() override {
    PingRequest request;
    request.set_t(1);
    absl::StatusOr<PingReply> reply =
        inline_ping_ ? host_->PingInline(request) : host_->Ping(request);
    if (!reply.ok()) Die("ours Ping: " + reply.status().ToString());
  }
  void IssuePings(int n, std::shared_ptr<Latch> latch) override {
    PingRequest request;
    for (int i = 0; i < n; ++i) {
      request.set_t(i);
      auto done = [latch](absl::StatusOr<PingReply> reply) {
        if (!reply.ok()) Die("ours PingAsync: " + reply.status().ToString());
        latch->CountDown();
      };
      if (inline_ping_) {
        host_->PingInlineAsync(request, std::move(done));
      } else {
        host_->PingAsync(request, std::move(done));
      }
    }
  }
  void PrepareEcho(size_t bytes) override { echo_.set_data(std::string(bytes, 'x')); }
  void Echo() override {
    absl::StatusOr<EchoReply> reply = host_->Echo(echo_);
    if (!reply.ok()) Die("ours Echo: " + reply.status().ToString());
    if (reply->data().size() != echo_.data().size()) Die("ours Echo: wrong size");
  }
  void SpinAsync(int64_t iterations, std::function<void()> done) override {
    SpinRequest request;
    request.set_iterations(iterations);
    host_->SpinAsync(request, [done = std::move(done)](absl::StatusOr<SpinReply> reply) {
      if (!reply.ok()) Die("ours Spin: " + reply.status().ToString());
      done();
    });
  }
  void ReadStream(int64_t count, size_t payload_bytes, std::chrono::microseconds pause) override {
    StreamRequest request;
    request.set_count(count);
    request.set_payload_bytes(static_cast<int64_t>(payload_bytes));
    iw::ResponseStream<StreamReply> stream = host_->ServerStream(request);
    StreamReply reply;
    int64_t n = 0;
    while (stream.Next(&reply)) {
      if (reply.seq() != n || reply.data().size() != payload_bytes) {
        Die(absl::StrCat("ours ServerStream: message ", n, " has seq ", reply.seq(), " and ",
                         reply.data().size(), " bytes"));
      }
      ++n;
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
    }
    absl::Status status = stream.Finish();
    if (!status.ok()) Die("ours ServerStream: " + status.ToString());
    if (n != count) Die(absl::StrCat("ours ServerStream: ", n, " of ", count, " messages"));
  }
  int pid() const override { return host_->pid(); }
  bool TryPing() override {
    PingRequest request;
    request.set_t(1);
    return host_->Ping(request).ok();
  }
  int64_t WorkersCrashed() const override { return host_->stats().workers_crashed; }
  int SpareWorkers() const override { return host_->stats().spare_workers; }
  void Close() override {
    absl::Status closed = host_->Close();
    if (!closed.ok()) {
      // Not fatal: counted and reported under the table.
      std::fprintf(stderr, "bench: ours Close: %s\n", closed.ToString().c_str());
      CountCloseError();
    }
  }

 private:
  std::unique_ptr<BenchHost> host_;
  bool inline_ping_;
  EchoRequest echo_;
};

class OursSystem final : public System {
 public:
  OursSystem(std::string worker, iw::WorkerTransport transport, bool inline_ping, bool call_stream,
             iw::StartMode start_mode)
      : worker_(std::move(worker)),
        transport_(transport),
        inline_ping_(inline_ping),
        call_stream_(call_stream),
        start_mode_(start_mode) {}
  const char* name() const override {
    if (start_mode_ == iw::StartMode::kForkServer) return "ours_fork";
    if (transport_ == iw::WorkerTransport::kGrpc) {
      return inline_ping_ ? "ours_grpc_inline" : "ours_grpc";
    }
    return inline_ping_ ? "ours_inline" : "ours";
  }
  bool pings_only() const override { return inline_ping_; }
  std::unique_ptr<Conn> Start() override {
    absl::StatusOr<std::unique_ptr<BenchHost>> host = BenchHost::Spawn(Options());
    if (!host.ok()) Die(absl::StrCat(name(), " Spawn: ", host.status().ToString()));
    return std::make_unique<OursConn>(*std::move(host), inline_ping_);
  }
  std::unique_ptr<Conn> StartPool(int n) override {
    iw::PoolOptions pool;
    pool.min_workers = pool.max_workers = n;
    pool.max_calls_per_worker = 1;  // CPU-bound: one call per process
    absl::StatusOr<std::unique_ptr<BenchHost>> host = BenchHost::SpawnPool(Options(), pool);
    if (!host.ok()) Die(absl::StrCat(name(), " SpawnPool: ", host.status().ToString()));
    return std::make_unique<OursConn>(*std::move(host));
  }
  std::unique_ptr<Conn> StartSparedPool(int n, int spares) override {
    iw::PoolOptions pool;
    pool.min_workers = pool.max_workers = n;
    pool.warm_spares = spares;
    absl::StatusOr<std::unique_ptr<BenchHost>> host = BenchHost::SpawnPool(Options(), pool);
    if (!host.ok()) Die(absl::StrCat(name(), " SpawnPool: ", host.status().ToString()));
    return std::make_unique<OursConn>(*std::move(host));
  }

 private:
  iw::WorkerOptions Options() const {
    iw::WorkerOptions options;
    options.executable = worker_;
    options.transport = transport_;
    options.call_stream = call_stream_;
    options.start_mode = start_mode_;
    return options;
  }

  std::string worker_;
  iw::WorkerTransport transport_;
  bool inline_ping_;
  bool call_stream_;
  iw::StartMode start_mode_;
};

}  // namespace

std::unique_ptr<System> MakeOursSystem(std::string worker, iw::WorkerTransport transport,
                                       bool inline_ping, bool call_stream,
                                       iw::StartMode start_mode) {
  return std::make_unique<OursSystem>(std::move(worker), transport, inline_ping, call_stream,
                                      start_mode);
}

}  // namespace harness
}  // namespace iwbench
