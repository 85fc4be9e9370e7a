// The Greeter handler of the in-process example, shared by the worker binary
// and the host (which can serve it in-process).
#ifndef IW_EXAMPLES_INPROCESS_GREETER_HANDLER_H_
#define IW_EXAMPLES_INPROCESS_GREETER_HANDLER_H_

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "examples/inprocess/greeter.iw.h"

namespace greeter::v1 {

class GreeterHandlerImpl final : public GreeterHandler {
 public:
  absl::StatusOr<GreetReply> Greet(iw::CallContext&, const GreetRequest& request) override {
    GreetReply reply;
    reply.set_message(absl::StrCat("hello, ", request.name()));
    reply.set_pid(::getpid());
    return reply;
  }

  absl::StatusOr<WorkReply> Work(iw::CallContext& context, const WorkRequest& request) override {
    const absl::Time end = absl::Now() + absl::Milliseconds(request.ms());
    while (absl::Now() < end && !context.IsCancelled()) absl::SleepFor(absl::Milliseconds(1));
    return WorkReply();
  }
};

}  // namespace greeter::v1

#endif  // IW_EXAMPLES_INPROCESS_GREETER_HANDLER_H_
