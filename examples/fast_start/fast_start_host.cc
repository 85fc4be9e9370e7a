// The host of the fast-start example: the same worker started with exec and
// with a fork server (WorkerOptions::start_mode), what each worker inherits,
// and how long spawn → first reply takes either way.
//
//   tools/bazel run //examples/fast_start:fast_start
//
// Exit status 0 if every worker behaved as the comments say.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/fast_start/fast_start.iw.h"
#include "runtime/paths.h"

namespace {

using faststart::v1::ProbeHost;
using faststart::v1::WhoamiReply;
using faststart::v1::WhoamiRequest;

bool g_ok = true;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::printf("UNEXPECTED: %s\n", what);
    g_ok = false;
  }
}

iw::WorkerOptions Options(iw::StartMode mode) {
  iw::WorkerOptions options;
  options.executable = iw::SiblingExecutable("fast_start_worker");
  options.start_mode = mode;
  return options;
}

std::unique_ptr<ProbeHost> SpawnOrExit(iw::StartMode mode) {
  absl::StatusOr<std::unique_ptr<ProbeHost>> host = ProbeHost::Spawn(Options(mode));
  if (!host.ok()) {
    std::printf("Spawn: %s\n", host.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*host);
}

WhoamiReply Whoami(ProbeHost& host) {
  absl::StatusOr<WhoamiReply> reply = host.Whoami(WhoamiRequest());
  if (!reply.ok()) {
    std::printf("Whoami: %s\n", reply.status().ToString().c_str());
    std::exit(1);
  }
  return *reply;
}

// Three workers of one mode: who they are and what they inherited.
void Show(iw::StartMode mode) {
  const bool forked = mode == iw::StartMode::kForkServer;
  std::vector<std::unique_ptr<ProbeHost>> hosts;
  for (int i = 0; i < 3; ++i) hosts.push_back(SpawnOrExit(mode));
  int first_parent = 0;
  for (auto& host : hosts) {
    const WhoamiReply me = Whoami(*host);
    const bool parent_is_host = me.parent_pid() == ::getpid();
    const bool table_is_own = me.table_built_by_pid() == me.pid();
    std::printf("%s worker pid %d: parent %s, lookup table built by %s, on_start ran in %s\n",
                forked ? "fork server:" : "exec:       ", me.pid(),
                parent_is_host ? "the host" : "the fork server",
                table_is_own ? "itself" : "the fork server (once, inherited)",
                me.on_start_ran_in_pid() == me.pid() ? "itself" : "another process");
    if (first_parent == 0) first_parent = me.parent_pid();
    Check(parent_is_host != forked, "the worker's parent");
    Check(table_is_own != forked, "who built the table");
    Check(!forked || me.table_built_by_pid() == me.parent_pid(), "the fork server built it");
    Check(me.on_start_ran_in_pid() == me.pid(), "on_start runs in every worker");
    Check(me.parent_pid() == first_parent, "one fork server for all three");
  }
  for (auto& host : hosts) Check(host->Close().ok(), "Close()");
}

// Median of spawn → first reply → close, `rounds` times per mode,
// interleaved (the machine's load drifts).
void Time(int rounds) {
  std::vector<double> exec_ms, fork_ms;
  for (int i = 0; i < rounds; ++i) {
    for (iw::StartMode mode : {iw::StartMode::kExec, iw::StartMode::kForkServer}) {
      const absl::Time start = absl::Now();
      std::unique_ptr<ProbeHost> host = SpawnOrExit(mode);
      Whoami(*host);
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
      Check(host->Close().ok(), "Close()");
      (mode == iw::StartMode::kExec ? exec_ms : fork_ms).push_back(ms);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("spawn -> first reply, median of %d: exec %.1f ms, fork server %.1f ms\n", rounds,
              median(exec_ms), median(fork_ms));
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Show(iw::StartMode::kExec);
  Show(iw::StartMode::kForkServer);
  Time(10);
  std::printf(g_ok ? "fast start as described\n" : "fast start NOT as described\n");
  return g_ok ? 0 : 1;
}
