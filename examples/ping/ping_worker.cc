// The worker process of the ping example: serves the Pinger handler
// (pinger.h).
#include "examples/ping/pinger.h"

int main(int argc, char** argv) {
  ping::Pinger handler;
  return ping::v1::RunPingerWorker(argc, argv, handler);
}
