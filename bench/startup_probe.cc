// Startup A/B probe: spawn → ready → first reply for several worker
// executables (or wrapper scripts), interleaved, many iterations; medians.
//   startup_probe [--iters=N] [--pings=K] [--floor=UDS_FLOOR_SERVER] WORKER...
// --floor adds the Unix-socket floor (bench/uds_floor_server: spawn, accept,
// one 64-byte echo) to every round, and prints each worker's median as a
// ratio to the floor's of the same run. --pings sends K more (untimed) pings
// per worker before closing it, for profiles of the calls after the first.
// Besides wall times, each worker's CPU time (user + system, from
// RUSAGE_CHILDREN once it is reaped) is less disturbed by a loaded machine.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "bench/bench.iw.h"

using Clock = std::chrono::steady_clock;

static double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
static double ChildrenCpuMs() {
  rusage usage;
  ::getrusage(RUSAGE_CHILDREN, &usage);
  return usage.ru_utime.tv_sec * 1e3 + usage.ru_utime.tv_usec / 1e3 + usage.ru_stime.tv_sec * 1e3 +
         usage.ru_stime.tv_usec / 1e3;
}

static double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

extern char** environ;

// One round of the floor: spawn uds_floor_server, accept its connection,
// echo one 64-byte frame, close, reap. Returns spawn → reply in ms.
static double FloorRound(const std::string& server) {
  const std::string path = "/tmp/iw_startup_probe_floor." + std::to_string(::getpid());
  ::unlink(path.c_str());
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, 1) != 0) {
    std::perror("floor: bind/listen");
    std::exit(1);
  }
  Clock::time_point t0 = Clock::now();
  pid_t pid;
  char* args[] = {const_cast<char*>(server.c_str()), const_cast<char*>(path.c_str()), nullptr};
  if (::posix_spawn(&pid, server.c_str(), nullptr, nullptr, args, environ) != 0) {
    std::perror("floor: posix_spawn");
    std::exit(1);
  }
  int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(listener);
  ::unlink(path.c_str());
  char frame[8 + 64] = {};
  const uint64_t length = 64;
  std::memcpy(frame, &length, 8);
  char reply[sizeof(frame)];
  size_t got = 0;
  if (fd < 0 || ::write(fd, frame, sizeof(frame)) != static_cast<ssize_t>(sizeof(frame))) {
    std::perror("floor: accept/write");
    std::exit(1);
  }
  while (got < sizeof(reply)) {
    ssize_t n = ::read(fd, reply + got, sizeof(reply) - got);
    if (n <= 0) {
      std::perror("floor: read");
      std::exit(1);
    }
    got += static_cast<size_t>(n);
  }
  Clock::time_point t1 = Clock::now();
  ::close(fd);
  int status;
  ::waitpid(pid, &status, 0);
  return Ms(t1 - t0);
}

int main(int argc, char** argv) {
  int iters = 40;
  int pings = 0;
  std::string floor_server;
  std::vector<std::string> workers;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (absl::StartsWith(a, "--iters=")) {
      iters = std::atoi(a.c_str() + 8);
    } else if (absl::StartsWith(a, "--pings=")) {
      pings = std::atoi(a.c_str() + 8);
    } else if (absl::StartsWith(a, "--floor=")) {
      floor_server = a.substr(8);
    } else {
      workers.push_back(a);
    }
  }
  std::vector<std::vector<double>> ready(workers.size()), first(workers.size()),
      call(workers.size()), cpu(workers.size());
  std::vector<double> floor;
  for (int i = -2; i < iters; ++i) {
    if (!floor_server.empty()) {
      const double ms = FloorRound(floor_server);
      if (i >= 0) floor.push_back(ms);
    }
    for (size_t w = 0; w < workers.size(); ++w) {
      iw::WorkerOptions options;
      options.executable = workers[w];
      const double cpu0 = ChildrenCpuMs();
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
      for (int p = 0; p < pings; ++p) {
        if (!(*host)->Ping(request).ok()) {
          std::fprintf(stderr, "ping %d failed\n", p);
          return 1;
        }
      }
      (*host)->Close().IgnoreError();
      if (i == -2 && w == 0) {
        std::printf("first spawn in this process: ready %.2f first %.2f\n", Ms(t1 - t0),
                    Ms(t2 - t0));
      }
      if (i < 0) continue;
      ready[w].push_back(Ms(t1 - t0));
      first[w].push_back(Ms(t2 - t0));
      call[w].push_back(Ms(t2 - t1));
      cpu[w].push_back(ChildrenCpuMs() - cpu0);
    }
  }
  const double floor_p50 = floor.empty() ? 0 : Pct(floor, 0.5);
  if (!floor.empty()) {
    std::printf("%-50s                   first p25 %6.2f p50 %6.2f p75 %6.2f\n", "floor",
                Pct(floor, 0.25), floor_p50, Pct(floor, 0.75));
  }
  for (size_t w = 0; w < workers.size(); ++w) {
    std::printf("%-50s ready p50 %6.2f  first p25 %6.2f p50 %6.2f p75 %6.2f", workers[w].c_str(),
                Pct(ready[w], 0.5), Pct(first[w], 0.25), Pct(first[w], 0.5), Pct(first[w], 0.75));
    if (floor_p50 > 0) std::printf("  = %.2fx floor", Pct(first[w], 0.5) / floor_p50);
    std::printf("  ready->first p50 %5.2f  cpu p50 %6.2f\n", Pct(call[w], 0.5), Pct(cpu[w], 0.5));
  }
  return 0;
}
