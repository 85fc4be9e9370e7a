// -----------------------------------------------------------------------------
// File: fuzz/service_fuzzer.h
// -----------------------------------------------------------------------------
//
// The engine behind `iw_cc_fuzz_test` (tools/iw_cc_fuzz_test.bzl): fuzzes a
// user's own handler through the worker's real dispatch path. The handler
// is served by a real gRPC server (in-process channel) with the Dispatcher
// production workers use, so every input reaches `Dispatcher::Execute`
// exactly as a call from a host would: as a unary RPC, or inside call
// batches on the multiplexed call stream.
//
// Input: the first byte picks a mode.
// - Unary (top two bits 00): byte % method_count picks the method; the rest
//   is the request body as it would arrive over gRPC (arbitrary bytes: most
//   fail to parse, some reach the handler).
// - Stream, raw (bits 11): the rest is split into 1-4 stream messages, sent
//   as they are (hostile framing).
// - Stream, structured (bits 01 or 10): the rest is read as a list of calls
//   (method index, timeout, metadata, request bytes) sent as valid call
//   batches with cancellations, to reach the handler many times per input.
//
// Every call has a deadline (at most 0.2 s), so a handler that honours its
// deadline (`CallContext::IsCancelled()`) never stalls the fuzzer; one that
// ignores it shows up as a slow or hung run, itself a finding.
//
// Invariants checked (a violation aborts, which libFuzzer and the smoke
// driver report as a crash): no crash or sanitizer report in the handler or
// the runtime; every status has a canonical code; an OK unary reply is within
// the service's max_response_bytes; a stream ends with a canonical status
// well before its deadline, and if it ends OK every call got exactly one
// reply.
//
// Example (what the macro generates):
//
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
//     static auto* handler = new my::Handler();
//     static auto* fuzzer = new iw::fuzz::ServiceFuzzer(
//         my::v1::BindCalculatorHandler(*handler));
//     return fuzzer->Run(data, size);
//   }
#ifndef IW_FUZZ_SERVICE_FUZZER_H_
#define IW_FUZZ_SERVICE_FUZZER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "runtime/codegen_support/handler_adapter.h"

namespace iw::fuzz {

class ServiceFuzzer {
 public:
  // Starts the in-process server for `binding`. Aborts if it cannot.
  // Silences protobuf's log (google::protobuf::SetLogHandler(nullptr)) for
  // the process: most fuzz inputs do not parse.
  explicit ServiceFuzzer(const iw::codegen::ServiceBinding& binding);
  ~ServiceFuzzer();
  ServiceFuzzer(const ServiceFuzzer&) = delete;
  ServiceFuzzer& operator=(const ServiceFuzzer&) = delete;

  // One fuzz input (see the file comment). Returns 0, as libFuzzer expects.
  int Run(const uint8_t* data, size_t size);

 private:
  struct Server;
  void RunUnary(const uint8_t* data, size_t size);
  void RunStream(const uint8_t* data, size_t size);

  std::unique_ptr<Server> server_;
};

}  // namespace iw::fuzz

#endif  // IW_FUZZ_SERVICE_FUZZER_H_
