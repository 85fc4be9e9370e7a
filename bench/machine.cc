#include "bench/machine.h"

#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/harness.h"
#include "bench/spin.h"

namespace iwbench {
namespace harness {
namespace {

std::string Cpuidle() {
  std::string driver = ReadFirstLine("/sys/devices/system/cpu/cpuidle/current_driver");
  std::string poll = ReadFirstLine("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
  return poll == "?" ? driver : absl::StrCat(driver, ", guest_halt_poll_ns=", poll);
}

}  // namespace

std::string ReadFirstLine(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (prefix.empty()) return line;
    if (line.rfind(prefix, 0) == 0) {
      size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "?";
}

void PrintMachine(int argc, char** argv, const Plan& plan, int runs,
                  const std::vector<std::string>& systems) {
  utsname u;
  ::uname(&u);
  char date[64];
  time_t now = ::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  std::string command = "bench";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  std::printf("# isolated-workers benchmark\n\n");
  std::printf("- date: %s\n", date);
  std::printf("- machine: %ld vCPU, %s; kernel %s %s; cpuidle %s\n",
              ::sysconf(_SC_NPROCESSORS_ONLN), ReadFirstLine("/proc/cpuinfo", "model name").c_str(),
              u.sysname, u.release, Cpuidle().c_str());
  std::printf("- load average at start: %s\n", ReadFirstLine("/proc/loadavg").c_str());
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::getenv("IWBENCH_NO_DEADLOCK_DETECTION") != nullptr) {
    std::printf(
        "- IWBENCH_NO_DEADLOCK_DETECTION set: absl Mutex deadlock detection off in "
        "all processes\n");
  }
  std::printf("- command: `%s`%s%s\n", command.c_str(), tunables ? "; GLIBC_TUNABLES=" : "",
              tunables ? tunables : "");
  std::printf(
      "- runs: %d, interleaved (%s, repeat); value = median of the per-run "
      "statistics\n",
      runs, absl::StrJoin(systems, ", ").c_str());
  std::printf("- throughput: %s calls in flight, %.2f s each (after %.2f s warm-up)\n",
              absl::StrJoin(plan.tput_in_flight, ", ").c_str(), plan.tput_seconds,
              plan.tput_warm_seconds);
  std::printf("- server stream: %lld messages of %zu B (after a warm-up stream of a tenth)\n",
              static_cast<long long>(plan.stream_messages), plan.stream_payload);
  std::printf("- Spin: %lld iterations per call (%.2f ms in-process)\n\n",
              static_cast<long long>(plan.spin_iterations), [&] {
                volatile uint64_t sink = 0;
                SpinWork(plan.spin_iterations / 10);  // warm the core
                Clock::time_point t0 = Clock::now();
                sink = SpinWork(plan.spin_iterations);
                (void)sink;
                return Ms(Clock::now() - t0);
              }());
  std::fflush(stdout);
}

}  // namespace harness
}  // namespace iwbench
