#include "tests/middleware/middleware_handler.h"

#include <unistd.h>

#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"

namespace iwmw {

absl::StatusOr<MwReply> MwHandler::Echo(iw::CallContext& context, const MwRequest& request) {
  context.AddResponseMetadata("x-handler", "ran");
  if (request.crash()) _exit(3);
  if (request.throw_exception()) throw std::runtime_error("handler exploded");
  if (request.fail_code() != 0) {
    absl::Status status(static_cast<absl::StatusCode>(request.fail_code()), "the handler refused");
    ErrorDetail detail;
    detail.set_field("text");
    detail.set_retry_after_ms(42);
    iw::AttachDetails(status, detail);
    return status;
  }
  MwReply reply;
  reply.set_text(request.text());
  reply.set_request_id(context.request_id());
  reply.set_pid(getpid());
  for (const auto& [key, value] : context.request_metadata()) {
    reply.add_metadata(absl::StrCat(key, "=", value));
    if (key == "x-in") context.AddResponseMetadata("x-out", value);
  }
  return reply;
}

namespace {

class Step final : public iw::WorkerMiddleware {
 public:
  explicit Step(int n) : n_(n) {}

  absl::Status OnRequest(iw::WorkerCall& call) override {
    call.context.AddResponseMetadata("x-order", absl::StrCat("w", n_, "-req"));
    auto* request = static_cast<MwRequest*>(call.request);
    if (request->worker_action() == absl::StrCat("fail:", n_)) {
      return absl::FailedPreconditionError(absl::StrCat("worker middleware ", n_, " refused"));
    }
    if (request->worker_action() == absl::StrCat("throw:", n_)) {
      throw std::runtime_error(absl::StrCat("boom ", n_));
    }
    if (n_ == 2) request->set_text(absl::StrCat(request->text(), "+w2"));
    return absl::OkStatus();
  }

  void OnResponse(iw::WorkerCall& call, absl::Status& status) override {
    call.context.AddResponseMetadata("x-order", absl::StrCat("w", n_, "-resp"));
    auto* request = static_cast<MwRequest*>(call.request);
    if (request->worker_action() == absl::StrCat("throwresp:", n_)) {
      throw std::runtime_error(absl::StrCat("late boom ", n_));
    }
    if (n_ == 2 && status.ok()) {
      auto* reply = static_cast<MwReply*>(call.response);
      reply->set_text(absl::StrCat(reply->text(), "+w2resp"));
    }
  }

 private:
  const int n_;
};

}  // namespace

std::vector<std::shared_ptr<iw::WorkerMiddleware>> WorkerChain() {
  return {std::make_shared<Step>(1), std::make_shared<Step>(2), std::make_shared<Step>(3)};
}

}  // namespace iwmw
