// Serves iwtest.LimitsService: replies of any requested size.
#include <string>

#include "tests/hardening/limits_service.iw.h"

namespace {

class LimitsHandler final : public iwtest::LimitsServiceHandler {
 public:
  absl::StatusOr<iwtest::SizedReply> Sized(iw::CallContext&,
                                           const iwtest::SizedRequest& request) override {
    iwtest::SizedReply reply;
    reply.set_payload(std::string(static_cast<size_t>(request.reply_bytes()), 'r'));
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  LimitsHandler handler;
  return iwtest::RunLimitsServiceWorker(argc, argv, handler);
}
