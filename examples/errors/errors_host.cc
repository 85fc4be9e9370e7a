// The host of the error-handling example: status codes and messages from the
// worker, structured details read back as their type, an exception turned
// into INTERNAL, a method the worker does not know, and a crash.
//
//   tools/bazel run //examples/errors:errors_host
#include <unistd.h>

#include <cstdio>
#include <string>

#include "examples/errors/errors.iw.h"
#include "runtime/paths.h"

namespace {

void Divide(errors::v1::CalculatorHost& host, int64_t a, int64_t b) {
  errors::v1::DivideRequest request;
  request.set_dividend(a);
  request.set_divisor(b);
  absl::StatusOr<errors::v1::DivideReply> reply = host.Divide(request);
  if (reply.ok()) {
    std::printf("divide %lld/%lld -> %lld\n", static_cast<long long>(a), static_cast<long long>(b),
                static_cast<long long>(reply->quotient()));
    return;
  }
  std::printf("divide %lld/%lld -> %s: %s\n", static_cast<long long>(a), static_cast<long long>(b),
              absl::StatusCodeToString(reply.status().code()).c_str(),
              std::string(reply.status().message()).c_str());
  if (auto violation = iw::GetDetails<errors::v1::FieldViolation>(reply.status())) {
    std::printf("  detail FieldViolation: field \"%s\": %s\n", violation->field().c_str(),
                violation->description().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  iw::WorkerOptions options;
  options.executable = argc > 1 ? argv[1] : iw::SiblingExecutable("errors_worker");
  auto host = errors::v1::CalculatorHost::Spawn(options);
  if (!host.ok()) {
    std::fprintf(stderr, "spawn failed: %s\n", host.status().ToString().c_str());
    return 1;
  }
  const int pid = (*host)->pid();
  Divide(**host, 10, 2);
  Divide(**host, 1, 0);

  absl::StatusOr<errors::v1::ExplodeReply> exploded = (*host)->Explode({});
  std::printf("explode -> %s\n", exploded.status().ToString().c_str());

  Divide(**host, 9, 3);
  std::printf("worker still serving after the exception: %s\n",
              (*host)->pid() == pid ? "yes, same process" : "no");
  absl::Status closed = (*host)->Close();
  std::printf("closed: %s\n", closed.ToString().c_str());
  return closed.ok() ? 0 : 1;
}
