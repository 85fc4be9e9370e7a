// Our side of the benchmark: the generated iwbench::BenchHandler, served by
// the isolated-workers runtime (spawned by bench via iwbench::BenchHost).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/synchronization/mutex.h"
#include "bench/bench.iw.h"
#include "bench/spin.h"

namespace {

class BenchWorker final : public iwbench::BenchHandler {
 public:
  absl::StatusOr<iwbench::PingReply> Ping(iw::CallContext& /*context*/,
                                          const iwbench::PingRequest& request) override {
    iwbench::PingReply reply;
    reply.set_t(request.t());
    return reply;
  }
  absl::StatusOr<iwbench::PingReply> PingInline(iw::CallContext& /*context*/,
                                                const iwbench::PingRequest& request) override {
    iwbench::PingReply reply;
    reply.set_t(request.t());
    return reply;
  }

  absl::StatusOr<iwbench::EchoReply> Echo(iw::CallContext& /*context*/,
                                          const iwbench::EchoRequest& request) override {
    iwbench::EchoReply reply;
    reply.set_data(request.data());
    return reply;
  }

  absl::StatusOr<iwbench::SpinReply> Spin(iw::CallContext& /*context*/,
                                          const iwbench::SpinRequest& request) override {
    iwbench::SpinReply reply;
    reply.set_result(iwbench::SpinWork(request.iterations()));
    return reply;
  }

  absl::Status ServerStream(iw::CallContext& /*context*/, const iwbench::StreamRequest& request,
                            iw::StreamWriter<iwbench::StreamReply>& writer) override {
    iwbench::StreamReply reply;
    reply.set_data(std::string(static_cast<size_t>(request.payload_bytes()), 's'));
    for (int64_t i = 0; i < request.count(); ++i) {
      reply.set_seq(i);
      // False: the host cancelled or went away; nobody reads the status.
      if (!writer.Write(reply)) return absl::CancelledError("reader gone");
    }
    return absl::OkStatus();
  }
};

}  // namespace

int main(int argc, char** argv) {
  // Profiling experiment (docs/benchmarks.md): Debian's Abseil is built
  // without NDEBUG, so every absl::Mutex (ours and gRPC's) feeds the deadlock
  // detector's global graph unless it is switched off.
  if (std::getenv("IWBENCH_NO_DEADLOCK_DETECTION") != nullptr) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  BenchWorker handler;
  return iwbench::RunBenchWorker(argc, argv, handler);
}
