// The host of the middleware example: a logging middleware, a timing
// middleware and one that adds metadata and validates requests (short-
// circuiting the bad ones before they reach the worker).
//
//   tools/bazel run //examples/middleware:middleware_host
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "examples/middleware/greeter.iw.h"
#include "runtime/paths.h"

namespace {

// Outermost: sees every call, including those a later step refuses.
class Logging final : public iw::HostMiddleware {
 public:
  absl::Status OnRequest(iw::HostCall& call) override {
    std::printf("[OUTGOING] >>> %s (request %s)\n", std::string(call.method).c_str(),
                call.request_id.c_str());
    return absl::OkStatus();
  }
  void OnResponse(iw::HostCall& call, absl::Status& status) override {
    auto handler_us = call.response_metadata.find("x-handler-us");
    std::printf("[INCOMING] <<< %s: %s%s\n", std::string(call.method).c_str(),
                status.ok() ? "OK" : std::string(status.ToString()).c_str(),
                handler_us == call.response_metadata.end()
                    ? " (worker not reached)"
                    : " (handler time reported by the worker)");
  }
};

class Timing final : public iw::HostMiddleware {
 public:
  absl::Status OnRequest(iw::HostCall&) override {
    start_ = absl::Now();
    return absl::OkStatus();
  }
  void OnResponse(iw::HostCall& call, absl::Status&) override {
    std::printf("[TIMING] %s took %lld us\n", std::string(call.method).c_str(),
                static_cast<long long>(absl::ToInt64Microseconds(absl::Now() - start_)));
  }

 private:
  absl::Time start_;  // the example makes one call at a time
};

// Innermost: refuses names that are too long, trims the others, adds
// metadata, and marks the reply.
class Policy final : public iw::HostMiddleware {
 public:
  absl::Status OnRequest(iw::HostCall& call) override {
    auto* request = static_cast<greeter::v1::GreetRequest*>(call.request);
    if (request->name().size() > 20) {
      return absl::InvalidArgumentError("name longer than 20 characters (refused by the host)");
    }
    request->set_name(std::string(absl::StripAsciiWhitespace(request->name())));
    if (request->name() == "Amélie") call.request_metadata.emplace("x-locale", "fr");
    return absl::OkStatus();
  }
  void OnResponse(iw::HostCall& call, absl::Status& status) override {
    if (!status.ok()) return;
    auto* reply = static_cast<greeter::v1::GreetReply*>(call.response);
    reply->set_greeting(absl::StrCat(reply->greeting(), " (via middleware)"));
  }
};

void Greet(greeter::v1::GreeterHost& host, const std::string& name) {
  greeter::v1::GreetRequest request;
  request.set_name(name);
  absl::StatusOr<greeter::v1::GreetReply> reply = host.Greet(request);
  if (reply.ok()) {
    std::printf("greet \"%s\" -> \"%s\"\n", name.c_str(), reply->greeting().c_str());
  } else {
    std::printf("greet \"%s\" -> %s\n", name.c_str(), reply.status().ToString().c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  iw::WorkerOptions options;
  options.executable = argc > 1 ? argv[1] : iw::SiblingExecutable("middleware_worker");
  // Order: Logging → Timing → Policy → worker; replies come back through
  // Policy → Timing → Logging.
  options.middleware = {std::make_shared<Logging>(), std::make_shared<Timing>(),
                        std::make_shared<Policy>()};
  auto host = greeter::v1::GreeterHost::Spawn(options);
  if (!host.ok()) {
    std::fprintf(stderr, "spawn failed: %s\n", host.status().ToString().c_str());
    return 1;
  }
  Greet(**host, "  Ada ");
  Greet(**host, "Amélie");
  Greet(**host, "");
  Greet(**host, "a name that is far too long");
  absl::Status closed = (*host)->Close();
  std::printf("closed: %s\n", closed.ToString().c_str());
  return closed.ok() ? 0 : 1;
}
