// The worker of the error-handling example: returns a status with a
// structured detail, and throws an exception from a handler.
#include <unistd.h>

#include <stdexcept>

#include "examples/errors/errors.iw.h"

namespace {

class Calculator final : public errors::v1::CalculatorHandler {
 public:
  absl::StatusOr<errors::v1::DivideReply> Divide(
      iw::CallContext&, const errors::v1::DivideRequest& request) override {
    if (request.divisor() == 0) {
      absl::Status status = absl::InvalidArgumentError("division by zero");
      errors::v1::FieldViolation violation;
      violation.set_field("divisor");
      violation.set_description("must not be zero");
      iw::AttachDetails(status, violation);
      return status;
    }
    errors::v1::DivideReply reply;
    reply.set_quotient(request.dividend() / request.divisor());
    reply.set_worker_pid(::getpid());
    return reply;
  }

  absl::StatusOr<errors::v1::ExplodeReply> Explode(iw::CallContext&,
                                                   const errors::v1::ExplodeRequest&) override {
    // Framework code catches it: the call fails with INTERNAL, the worker
    // keeps serving.
    throw std::runtime_error("kaboom");
  }
};

}  // namespace

int main(int argc, char** argv) {
  Calculator handler;
  return errors::v1::RunCalculatorWorker(argc, argv, handler);
}
