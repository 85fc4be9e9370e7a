// A worker serving iwtest.TestService (tests/workers/test_handler.h), used by
// the end-to-end tests.
#include "tests/workers/test_handler.h"
#include "tests/workers/test_service.iw.h"

int main(int argc, char** argv) {
  iwtest::TestHandler handler;
  return iwtest::RunTestServiceWorker(argc, argv, handler);
}
