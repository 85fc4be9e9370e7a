// Serves iwtrace.TraceTest with a RecordingTracer, and its records (level
// debug and up) on stderr as FormatRecord() lines through its own sink
// (WorkerConfig::log_sink); the process-wide sink is left as it is.
#include <memory>

#include "tests/tracing/trace_handler.h"

int main(int argc, char** argv) {
  iwtrace::TraceHandler handler;
  iw::WorkerConfig config;
  config.tracer = std::make_shared<iwtrace::RecordingTracer>();
  config.log_sink = iwtrace::StderrRecordSink();
  config.log_level = iw::LogLevel::kDebug;
  return iwtrace::RunTraceTestWorker(argc, argv, handler, config);
}
