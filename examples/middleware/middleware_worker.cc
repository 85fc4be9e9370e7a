// The worker of the middleware example: a Greeter handler behind one worker
// middleware that logs each incoming call and reports how long the handler
// took, as response metadata.
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "examples/middleware/greeter.iw.h"

namespace {

class Greeter final : public greeter::v1::GreeterHandler {
 public:
  absl::StatusOr<greeter::v1::GreetReply> Greet(iw::CallContext& context,
                                                const greeter::v1::GreetRequest& request) override {
    if (request.name().empty()) return absl::InvalidArgumentError("name is empty");
    greeter::v1::GreetReply reply;
    // Metadata the host's middleware attached.
    auto locale = context.request_metadata().find("x-locale");
    bool french = locale != context.request_metadata().end() && locale->second == "fr";
    reply.set_greeting(absl::StrCat(french ? "Bonjour, " : "Hello, ", request.name(), "!"));
    return reply;
  }
};

class WorkerLogging final : public iw::WorkerMiddleware {
 public:
  absl::Status OnRequest(iw::WorkerCall& call) override {
    std::fprintf(stderr, "[WORKER incoming] Processing: %s (request %s)\n",
                 std::string(call.method).c_str(), call.context.request_id().c_str());
    started_ = absl::Now();  // one call at a time in this example
    return absl::OkStatus();
  }
  void OnResponse(iw::WorkerCall& call, absl::Status& status) override {
    call.context.AddResponseMetadata(
        "x-handler-us", absl::StrCat(absl::ToInt64Microseconds(absl::Now() - started_)));
  }

 private:
  absl::Time started_;
};

}  // namespace

int main(int argc, char** argv) {
  Greeter handler;
  iw::WorkerConfig config;
  config.middleware.push_back(std::make_shared<WorkerLogging>());
  return greeter::v1::RunGreeterWorker(argc, argv, handler, config);
}
