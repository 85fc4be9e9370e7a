// The worker of the tracing example: its handler logs through the
// framework (iw::LogMessage), so each record carries the call's trace id and
// request id; a WorkerTracer marks where a span would start and end. Its
// records go to its own sink (WorkerConfig::log_sink), which prints them on
// stderr for the host to capture.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "examples/tracing/inventory.iw.h"

namespace {

class Inventory final : public inventory::v1::InventoryHandler {
 public:
  absl::StatusOr<inventory::v1::LookupReply> Lookup(
      iw::CallContext& context, const inventory::v1::LookupRequest& request) override {
    iw::LogMessage(iw::LogLevel::kInfo, absl::StrCat("looking up ", request.sku()));
    if (request.sku().empty()) return absl::InvalidArgumentError("empty sku");
    inventory::v1::LookupReply reply;
    reply.set_in_stock(static_cast<int>(request.sku().size()) * 7);
    return reply;
  }
};

// Where an OpenTelemetry bridge would start a server span (docs/tracing.md).
class PrintingTracer final : public iw::WorkerTracer {
 public:
  std::unique_ptr<iw::TraceScope> StartCall(const iw::CallContext& context) override {
    iw::LogMessage(iw::LogLevel::kInfo, absl::StrCat("span start ", context.method(), " sampled=",
                                                     context.trace().sampled() ? "yes" : "no"));
    return std::make_unique<Scope>();
  }

 private:
  struct Scope final : iw::TraceScope {
    void OnEnd(const absl::Status& status) override {
      iw::LogMessage(iw::LogLevel::kInfo, absl::StrCat("span end ", status.ToString()));
    }
  };
};

}  // namespace

int main(int argc, char** argv) {
  Inventory handler;
  iw::WorkerConfig config;
  config.tracer = std::make_shared<PrintingTracer>();
  config.log_level = iw::LogLevel::kInfo;
  config.log_sink = [](const iw::LogRecord& r) {
    std::string line =
        absl::StrCat("trace=", r.trace_id.empty() ? "-" : r.trace_id,
                     " parent=", r.span_id.empty() ? "-" : r.span_id,
                     " request=", r.request_id.empty() ? "-" : r.request_id, " ", r.message, "\n");
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
  return inventory::v1::RunInventoryWorker(argc, argv, handler, config);
}
