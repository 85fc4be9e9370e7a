// The host of the tracing example: calls that carry a W3C trace context,
// set per call or taken from the "current span" of the calling thread (a
// TracePropagator, as an OpenTelemetry bridge would be), and a middleware
// that plays an OpenTelemetry client span (it sends itself as the parent).
// The worker's log records come back captured, through this host's own log
// sink, each with the trace id and request id of its call.
//
//   tools/bazel run //examples/tracing:tracing_host
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "examples/tracing/inventory.iw.h"
#include "runtime/paths.h"

namespace {

// The application's "current span" (what an OpenTelemetry context would
// hold), on the calling thread.
thread_local std::optional<iw::TraceContext> current_span;

class CurrentSpan final : public iw::TracePropagator {
 public:
  std::optional<iw::TraceContext> Current() override { return current_span; }
};

// A client span per call: it keeps the trace id and sends its own span id
// as the parent (a real one would draw a random id and record the span).
class ClientSpan final : public iw::HostMiddleware {
 public:
  absl::Status OnRequest(iw::HostCall& call) override {
    if (call.trace.empty()) return absl::OkStatus();
    std::printf("[client span] %s trace=%s parent=%s -> b7ad6b7169203331 (request %s)\n",
                std::string(call.method).c_str(), std::string(call.trace.trace_id()).c_str(),
                std::string(call.trace.parent_id()).c_str(), call.request_id.c_str());
    call.trace.traceparent = absl::StrCat("00-", call.trace.trace_id(), "-b7ad6b7169203331-",
                                          call.trace.sampled() ? "01" : "00");
    return absl::OkStatus();
  }
};

void Lookup(inventory::v1::InventoryHost& host, const std::string& sku,
            const iw::CallOptions& options = {}) {
  inventory::v1::LookupRequest request;
  request.set_sku(sku);
  absl::StatusOr<inventory::v1::LookupReply> reply = host.Lookup(request, options);
  if (reply.ok()) {
    std::printf("lookup \"%s\" -> %d in stock\n", sku.c_str(), reply->in_stock());
  } else {
    std::printf("lookup \"%s\" -> %s\n", sku.c_str(), reply.status().ToString().c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  iw::WorkerOptions options;
  options.executable = argc > 1 ? argv[1] : iw::SiblingExecutable("tracing_worker");
  options.trace_propagator = std::make_shared<CurrentSpan>();
  options.middleware.push_back(std::make_shared<ClientSpan>());
  // The worker's stderr (its log records) comes to this host's own sink;
  // the process-wide sink is left to the application.
  options.stderr_mode = iw::OutputMode::kCapture;
  options.log_level = iw::LogLevel::kInfo;
  options.log_sink = [](const iw::LogRecord& r) {
    if (r.message.rfind("stderr: ", 0) != 0) return;  // only the worker's lines here
    std::printf("[worker] %s\n", r.message.substr(8).c_str());
    std::fflush(stdout);
  };
  auto host = inventory::v1::InventoryHost::Spawn(options);
  if (!host.ok()) {
    std::fprintf(stderr, "spawn failed: %s\n", host.status().ToString().c_str());
    return 1;
  }
  // 1. Per call.
  iw::CallOptions call;
  call.trace = iw::TraceContext{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                "congo=t61rcWkgMzE"};
  Lookup(**host, "apples", call);
  // 2. From the calling thread's current span.
  current_span = iw::TraceContext{"00-0af7651916cd43dd8448eb211c80319c-0102030405060708-00", ""};
  Lookup(**host, "pears");
  Lookup(**host, "");
  // 3. None.
  current_span.reset();
  Lookup(**host, "plums");
  // 4. Invalid: refused before anything is sent.
  call.trace->traceparent = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
  Lookup(**host, "figs", call);
  absl::Status closed = (*host)->Close();
  std::printf("closed: %s\n", closed.ToString().c_str());
  return closed.ok() ? 0 : 1;
}
