// A host process for the orphan tests: spawns a TestService worker, prints
// the worker's pid on stdout, then waits to be killed. Its worker uses the
// carrier named by $IW_TEST_TRANSPORT (tests/testing/carrier.h).
//
//   orphan_host WORKER                 idle worker
//   orphan_host WORKER --stuck MARKER  first starts a call whose handler
//                                      ignores cancellation (it sleeps 60 s)
//                                      and waits for it to run (the handler
//                                      creates MARKER), its main thread then
//                                      blocked in another such call
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/time/clock.h"
#include "tests/testing/carrier.h"
#include "tests/workers/test_service.iw.h"

namespace {

iwtest::SleepRequest StuckSleep(const std::string& marker) {
  iwtest::SleepRequest sleep;
  sleep.set_ms(60000);
  sleep.set_stop_when_cancelled(false);
  sleep.set_started_marker(marker);
  return sleep;
}

}  // namespace

int main(int argc, char** argv) {
  const bool stuck = argc == 4 && std::strcmp(argv[2], "--stuck") == 0;
  if (argc != 2 && !stuck) return 2;
  // The carrier of the test that started this host ($IW_TEST_TRANSPORT).
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = argv[1];
  auto host = iwtest::TestServiceHost::Spawn(options);
  if (!host.ok()) {
    std::fprintf(stderr, "%s\n", host.status().ToString().c_str());
    return 1;
  }
  if (!stuck) {
    std::printf("%d\n", (*host)->pid());
    std::fflush(stdout);
    while (true) ::pause();
  }
  iw::CallOptions long_call;
  long_call.timeout = absl::Seconds(120);
  const std::string marker = argv[3];
  (*host)->SleepAsync(
      StuckSleep(marker), [](absl::StatusOr<iwtest::SleepReply>) {}, long_call);
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  struct stat st;
  while (::stat(marker.c_str(), &st) != 0) {
    if (absl::Now() > give_up) {
      std::fprintf(stderr, "orphan_host: the stuck handler did not start\n");
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  std::printf("%d\n", (*host)->pid());
  std::fflush(stdout);
  // The main thread blocked in a call, as a host usually is.
  (*host)->Sleep(StuckSleep(marker + ".2"), long_call).status().IgnoreError();
  while (true) ::pause();
}
