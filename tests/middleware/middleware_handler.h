// The iwmw.MwTest handler and a three-step worker middleware chain, served by
// middleware_worker and, in-process, by middleware_test.cc.
#ifndef IW_TESTS_MIDDLEWARE_MIDDLEWARE_HANDLER_H_
#define IW_TESTS_MIDDLEWARE_MIDDLEWARE_HANDLER_H_

#include <memory>
#include <vector>

#include "tests/middleware/middleware_service.iw.h"

namespace iwmw {

// Echo: replies with the request's text, the request id and metadata it saw,
// and answers request metadata "x-in" with response metadata "x-out".
class MwHandler final : public MwTestHandler {
 public:
  absl::StatusOr<MwReply> Echo(iw::CallContext& context, const MwRequest& request) override;
};

// Steps "w1", "w2", "w3". Each appends "wN-req" / "wN-resp" to response
// metadata "x-order"; w2 appends "+w2" to the request text and "+w2resp" to
// the reply text; MwRequest::worker_action makes one misbehave.
std::vector<std::shared_ptr<iw::WorkerMiddleware>> WorkerChain();

}  // namespace iwmw

#endif  // IW_TESTS_MIDDLEWARE_MIDDLEWARE_HANDLER_H_
