// -----------------------------------------------------------------------------
// File: codegen_support/handler_adapter.h
// -----------------------------------------------------------------------------
//
// FOR GENERATED CODE ONLY. Not a stable API; include the generated
// `<file>.iw.h` instead.
//
// The worker side of generated code: a type-erased table of the handler's
// methods (`MethodHandler`), bound to a handler object (`ServiceBinding`),
// and the worker entry point that serves it.

#ifndef IW_RUNTIME_CODEGEN_SUPPORT_HANDLER_ADAPTER_H_
#define IW_RUNTIME_CODEGEN_SUPPORT_HANDLER_ADAPTER_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include "absl/status/status.h"
#include "runtime/call_context.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/status_details.h"
#include "runtime/stream.h"
#include "runtime/worker_config.h"

namespace google::protobuf {
class MessageLite;
}  // namespace google::protobuf

namespace iw::codegen {

// How to run one method of a handler. One per RPC, in declaration order.
struct MethodHandler {
  // Default instances: the runtime creates requests/responses with New().
  const google::protobuf::MessageLite* request_prototype;
  const google::protobuf::MessageLite* response_prototype;
  // Calls the typed handler method. `handler` is the bound handler object,
  // `request`/`response` are of the prototypes' types. On OK, `response`
  // holds the reply.
  // Unary methods only (null for streaming ones).
  absl::Status (*invoke)(void* handler, ::iw::CallContext& context,
                         const google::protobuf::MessageLite& request,
                         google::protobuf::MessageLite* response);
  // Streaming methods only (null for unary ones): calls the typed handler
  // method with typed readers/writers over `io`. `request` is the one
  // request of a server-streaming method (else null); `response` receives
  // the one response of a client-streaming method on OK (else null); the
  // runtime reads that request and writes that response.
  absl::Status (*invoke_stream)(void* handler, ::iw::CallContext& context,
                                const google::protobuf::MessageLite* request,
                                ::iw::internal::StreamIo& io,
                                google::protobuf::MessageLite* response) = nullptr;
};

// A handler object together with its service's description and method table.
// The handler must outlive every use of the binding.
struct ServiceBinding {
  const ServiceInfo* service;
  const MethodHandler* methods;  // service->method_count entries
  void* handler;
};

// Serves `binding` in this process until the host closes it (or, when started
// by hand with --iw_listen=ADDRESS, until SIGTERM/SIGINT). Returns the process
// exit code: 0 after a clean shutdown.
int RunWorker(int argc, char** argv, const ServiceBinding& binding);
// The same, with worker middleware and other settings.
int RunWorker(int argc, char** argv, const ServiceBinding& binding,
              const ::iw::WorkerConfig& config);

}  // namespace iw::codegen

#endif  // IW_RUNTIME_CODEGEN_SUPPORT_HANDLER_ADAPTER_H_
