// Startup A/B probe: spawn → ready → first reply for several worker
// executables (or wrapper scripts), interleaved, many iterations; medians.
//   startup_probe [--iters=N] WORKER...
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "bench/bench.iw.h"

using Clock = std::chrono::steady_clock;

static double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
static double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

int main(int argc, char** argv) {
  int iters = 40;
  std::vector<std::string> workers;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (absl::StartsWith(a, "--iters=")) {
      iters = std::atoi(a.c_str() + 8);
    } else {
      workers.push_back(a);
    }
  }
  std::vector<std::vector<double>> ready(workers.size()), first(workers.size());
  for (int i = -2; i < iters; ++i) {
    for (size_t w = 0; w < workers.size(); ++w) {
      iw::WorkerOptions options;
      options.executable = workers[w];
      Clock::time_point t0 = Clock::now();
      auto host = iwbench::BenchHost::Spawn(options);
      if (!host.ok()) {
        std::fprintf(stderr, "%s\n", host.status().ToString().c_str());
        return 1;
      }
      Clock::time_point t1 = Clock::now();
      iwbench::PingRequest request;
      request.set_t(1);
      auto reply = (*host)->Ping(request);
      if (!reply.ok()) {
        std::fprintf(stderr, "%s\n", reply.status().ToString().c_str());
        return 1;
      }
      Clock::time_point t2 = Clock::now();
      (*host)->Close().IgnoreError();
      if (i == -2 && w == 0) {
        std::printf("first spawn in this process: ready %.2f first %.2f\n", Ms(t1 - t0),
                    Ms(t2 - t0));
      }
      if (i < 0) continue;
      ready[w].push_back(Ms(t1 - t0));
      first[w].push_back(Ms(t2 - t0));
    }
  }
  for (size_t w = 0; w < workers.size(); ++w) {
    std::printf("%-50s ready p50 %6.2f  first p25 %6.2f p50 %6.2f p75 %6.2f\n", workers[w].c_str(),
                Pct(ready[w], 0.5), Pct(first[w], 0.25), Pct(first[w], 0.5), Pct(first[w], 0.75));
  }
  return 0;
}
