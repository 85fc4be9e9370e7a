// The worker process of the prometheus_metrics example.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "examples/prometheus_metrics/inventory.iw.h"

namespace {

using prometheus_metrics::v1::CheckReply;
using prometheus_metrics::v1::CheckRequest;

class Inventory final : public prometheus_metrics::v1::InventoryHandler {
 public:
  absl::StatusOr<CheckReply> Check(iw::CallContext& /*context*/,
                                   const CheckRequest& request) override {
    switch (request.outcome()) {
      case prometheus_metrics::v1::OUTCOME_INVALID:
        return absl::InvalidArgumentError(absl::StrCat("\"", request.sku(), "\" is not a SKU"));
      case prometheus_metrics::v1::OUTCOME_ABORT_ONCE: {
        // O_EXCL: only the first attempt creates the marker (and aborts).
        const int fd =
            ::open(request.once_marker().c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) {
          ::close(fd);
          std::fprintf(stderr, "inventory worker %d: aborting on \"%s\"\n", ::getpid(),
                       request.sku().c_str());
          std::abort();  // SIGABRT, as a failed assertion in a native library
        }
        break;
      }
      default:
        break;
    }
    CheckReply reply;
    reply.set_verdict(absl::StrCat(request.sku(), ": in stock"));
    reply.set_worker_pid(::getpid());
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  Inventory handler;
  return prometheus_metrics::v1::RunInventoryWorker(argc, argv, handler);
}
