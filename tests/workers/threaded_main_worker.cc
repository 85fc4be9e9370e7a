// Serves iwtest.TestService like test_worker, but its main() starts a thread
// before RunWorker(), as a program that sets up a thread pool first would: a
// fork server would copy only one of its threads, so such a worker is
// refused as a fork server and started with exec (StartMode::kForkServer).
#include <unistd.h>

#include <thread>

#include "tests/workers/test_handler.h"
#include "tests/workers/test_service.iw.h"

int main(int argc, char** argv) {
  std::thread([] {
    while (true) ::pause();
  }).detach();
  iwtest::TestHandler handler;
  return iwtest::RunTestServiceWorker(argc, argv, handler);
}
