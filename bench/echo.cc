// Echo: sync Echo(bytes) round trips per payload size, after a 10% warm-up;
// the request is built outside the timer. Median RTT, MB/s = payload bytes /
// median RTT (10^6 B; the payload crosses the socket twice), p99.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/harness.h"
#include "bench/workloads.h"

namespace iwbench {
namespace harness {
namespace {

std::string EchoName(size_t bytes) {
  return bytes >= (1 << 20) ? absl::StrCat(bytes >> 20, " MiB") : absl::StrCat(bytes >> 10, " KiB");
}
std::string EchoKey(size_t bytes) { return absl::StrCat("echo", bytes); }

}  // namespace

void DefineEchoMetrics(Results& r, const Plan& plan) {
  for (size_t bytes : plan.echo_sizes) {
    std::string target;
    double t = NAN;
    if (bytes == (1u << 20)) target = "≤ 1.2 ms", t = 1.2;
    if (bytes == (16u << 20)) target = "≤ 20 ms", t = 20;
    r.DefineLower(EchoKey(bytes) + ".p50",
                  absl::StrCat("echo ", EchoName(bytes), " median RTT (ms)"), target, t);
    r.DefineHigher(EchoKey(bytes) + ".mbs", absl::StrCat("echo ", EchoName(bytes), " MB/s"));
    r.DefineLower(EchoKey(bytes) + ".p99", absl::StrCat("echo ", EchoName(bytes), " p99 RTT (ms)"));
  }
}

void RunEcho(System& sys, Conn& conn, const Plan& plan, Results& r) {
  const bool floor = std::string(sys.name()) == "floor";
  for (size_t k = 0; k < plan.echo_sizes.size(); ++k) {
    const size_t bytes = plan.echo_sizes[k];
    const int iters = floor ? plan.floor_echo_iters[k] : plan.echo_iters[k];
    conn.PrepareEcho(bytes);
    for (int i = 0; i < std::max(2, iters / 10); ++i) conn.Echo();
    std::vector<double> ms(iters);
    for (int i = 0; i < iters; ++i) {
      Clock::time_point t0 = Clock::now();
      conn.Echo();
      ms[i] = Ms(Clock::now() - t0);
    }
    const double median = Median(ms);
    r.Record(EchoKey(bytes) + ".p50", sys.name(), median);
    r.Record(EchoKey(bytes) + ".mbs", sys.name(), bytes / (median / 1e3) / 1e6);
    r.Record(EchoKey(bytes) + ".p99", sys.name(), Percentile(ms, 99));
  }
  conn.PrepareEcho(0);  // release the big buffers
}

}  // namespace harness
}  // namespace iwbench
