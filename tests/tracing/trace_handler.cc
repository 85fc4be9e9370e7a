#include "tests/tracing/trace_handler.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/call_context.h"

namespace iwtrace {
namespace {

// What RecordingTracer saw for the call on this thread.
thread_local std::string tracer_saw = "<no tracer>";
thread_local bool scope_open = false;

class RecordingScope final : public iw::TraceScope {
 public:
  RecordingScope() { scope_open = true; }
  void OnEnd(const absl::Status& status) override {
    iw::LogMessage(iw::LogLevel::kInfo, absl::StrCat("trace scope ended: ", status.ToString()));
  }
  ~RecordingScope() override {
    scope_open = false;
    tracer_saw = "<no tracer>";
  }
};

}  // namespace

std::unique_ptr<iw::TraceScope> RecordingTracer::StartCall(const iw::CallContext& context) {
  tracer_saw = context.trace().traceparent;
  return std::make_unique<RecordingScope>();
}

absl::StatusOr<ProbeReply> TraceHandler::Probe(iw::CallContext& context,
                                               const ProbeRequest& request) {
  const int before = calls_.fetch_add(1);
  if (request.crash()) _exit(3);
  if (!request.print().empty()) {
    std::printf("%s\n", request.print().c_str());
    std::fflush(stdout);
  }
  if (request.sleep_ms() > 0) absl::SleepFor(absl::Milliseconds(request.sleep_ms()));
  if (!request.log().empty()) iw::LogMessage(iw::LogLevel::kWarning, request.log());
  ProbeReply reply;
  reply.set_traceparent(context.trace().traceparent);
  reply.set_tracestate(context.trace().tracestate);
  reply.set_trace_id(std::string(context.trace().trace_id()));
  reply.set_parent_id(std::string(context.trace().parent_id()));
  reply.set_sampled(context.trace().sampled());
  reply.set_request_id(context.request_id());
  for (const auto& [key, value] : context.request_metadata()) {
    reply.add_metadata(absl::StrCat(key, "=", value));
  }
  reply.set_tracer_saw(tracer_saw);
  reply.set_scope_open(scope_open);
  reply.set_current_is_context(iw::CurrentCallContext() == &context);
  reply.set_calls_before(before);
  return reply;
}

absl::Status TraceHandler::ProbeStream(iw::CallContext& context, const ProbeRequest& request,
                                       iw::StreamWriter<ProbeReply>& writer) {
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<ProbeReply> reply = Probe(context, request);
    if (!reply.ok()) return reply.status();
    if (!writer.Write(*reply)) return absl::CancelledError("the host stopped reading");
  }
  return absl::OkStatus();
}

absl::StatusOr<ProbeReply> TraceHandler::Overrun(iw::CallContext& context,
                                                 const ProbeRequest& request) {
  return Probe(context, request);
}

absl::StatusOr<ProbeReply> TraceHandler::Retried(iw::CallContext& context,
                                                 const ProbeRequest& request) {
  return Probe(context, request);
}

std::string FormatRecord(const iw::LogRecord& record) {
  return absl::StrCat("iw-record level=", iw::LogLevelName(record.level),
                      " worker=", record.worker_id, " request=", record.request_id,
                      " trace=", record.trace_id, " span=", record.span_id,
                      " message=", record.message);
}

iw::LogSink StderrRecordSink() {
  return [](const iw::LogRecord& record) {
    std::string line = FormatRecord(record) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
}

}  // namespace iwtrace
