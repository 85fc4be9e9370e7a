// A host process for the orphan test: spawns a TestService worker, prints
// the worker's pid on stdout, then waits to be killed.
#include <unistd.h>

#include <cstdio>

#include "tests/workers/test_service.iw.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  iw::WorkerOptions options;
  options.executable = argv[1];
  auto host = iwtest::TestServiceHost::Spawn(options);
  if (!host.ok()) {
    std::fprintf(stderr, "%s\n", host.status().ToString().c_str());
    return 1;
  }
  std::printf("%d\n", (*host)->pid());
  std::fflush(stdout);
  while (true) ::pause();
}
