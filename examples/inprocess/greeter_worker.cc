// The worker binary of the in-process example.
#include "examples/inprocess/greeter_handler.h"

int main(int argc, char** argv) {
  greeter::v1::GreeterHandlerImpl handler;
  return greeter::v1::RunGreeterWorker(argc, argv, handler);
}
