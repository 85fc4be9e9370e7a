// Serves iwmw.MwTest with the three-step worker middleware chain.
#include "tests/middleware/middleware_handler.h"

int main(int argc, char** argv) {
  iwmw::MwHandler handler;
  iw::WorkerConfig config;
  config.middleware = iwmw::WorkerChain();
  return iwmw::RunMwTestWorker(argc, argv, handler, config);
}
