// The iwtrace.TraceTest handler, a recording WorkerTracer and a log sink that
// prints records with their call ids; served by trace_worker and, in-process,
// by the tests of this package.
#ifndef IW_TESTS_TRACING_TRACE_HANDLER_H_
#define IW_TESTS_TRACING_TRACE_HANDLER_H_

#include <atomic>
#include <memory>
#include <string>

#include "runtime/logging.h"
#include "runtime/trace_context.h"
#include "tests/tracing/trace_service.iw.h"

namespace iwtrace {

// Replies with what the handler saw of its call (see ProbeReply).
class TraceHandler final : public TraceTestHandler {
 public:
  absl::StatusOr<ProbeReply> Probe(iw::CallContext& context, const ProbeRequest& request) override;
  absl::Status ProbeStream(iw::CallContext& context, const ProbeRequest& request,
                           iw::StreamWriter<ProbeReply>& writer) override;
  absl::StatusOr<ProbeReply> Overrun(iw::CallContext& context,
                                     const ProbeRequest& request) override;
  absl::StatusOr<ProbeReply> Retried(iw::CallContext& context,
                                     const ProbeRequest& request) override;

 private:
  std::atomic<int> calls_{0};
};

// Records, on the handler's thread, the traceparent StartCall saw and
// whether its scope is open (read by TraceHandler into ProbeReply); its
// scope logs "trace scope ended: <status>" (iw::LogMessage, info).
class RecordingTracer final : public iw::WorkerTracer {
 public:
  std::unique_ptr<iw::TraceScope> StartCall(const iw::CallContext& context) override;
};

// "iw-record level=warning worker=<id> request=<id> trace=<id> span=<id>
// message=<text>".
std::string FormatRecord(const iw::LogRecord& record);

// A sink that writes FormatRecord() lines to stderr.
iw::LogSink StderrRecordSink();

}  // namespace iwtrace

#endif  // IW_TESTS_TRACING_TRACE_HANDLER_H_
