#include "runtime/common/middleware_chain.h"

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <typeinfo>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/common/demangle.h"

namespace iw::internal {
namespace {

// Middleware is user code: like handlers, an exception it throws fails only
// its call ("framework may catch").
template <class F>
absl::Status Guard(absl::string_view side, size_t index, absl::string_view method, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(method, ": ", side, " middleware #", index + 1,
                                            " threw ", Demangle(typeid(e).name()), ": ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(method, ": ", side, " middleware #", index + 1,
                                            " threw ", CurrentExceptionTypeName()));
  }
}

template <class Chain, class Call>
absl::Status RunRequestHooks(absl::string_view side, const Chain& chain, Call& call, size_t* ran) {
  *ran = 0;
  for (size_t i = 0; i < chain.size(); ++i) {
    absl::Status status = Guard(side, i, call.method, [&] { return chain[i]->OnRequest(call); });
    if (!status.ok()) return status;
    ++*ran;
  }
  return absl::OkStatus();
}

template <class Chain, class Call>
void RunResponseHooks(absl::string_view side, const Chain& chain, Call& call, size_t ran,
                      absl::Status& status) {
  for (size_t i = ran; i-- > 0;) {
    absl::Status thrown = Guard(side, i, call.method, [&] {
      chain[i]->OnResponse(call, status);
      return absl::OkStatus();
    });
    if (!thrown.ok()) status = std::move(thrown);
  }
}

}  // namespace

absl::Status RunOnRequest(const HostChain& chain, HostCall& call, size_t* ran) {
  absl::Status status = RunRequestHooks("host", chain, call, ran);
  if (!status.ok()) return status;
  for (const auto& [key, value] : call.request_metadata) {
    absl::Status valid = ValidateMetadataEntry(key, value);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          call.method, ": host middleware added bad request metadata: ", valid.message()));
    }
  }
  if (call.trace.empty() && call.trace.tracestate.empty()) return absl::OkStatus();
  if (absl::Status valid = ValidateTraceContext(call.trace); !valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(call.method, ": invalid trace context (HostCall::trace): ", valid.message()));
  }
  // The standard keys, once each, as OpenTelemetry's propagators send them.
  call.request_metadata.erase(kTraceparentMetadataKey);
  call.request_metadata.erase(kTracestateMetadataKey);
  call.request_metadata.emplace(kTraceparentMetadataKey, call.trace.traceparent);
  if (!call.trace.tracestate.empty()) {
    call.request_metadata.emplace(kTracestateMetadataKey, call.trace.tracestate);
  }
  return absl::OkStatus();
}

absl::Status RunOnRequest(const WorkerChain& chain, WorkerCall& call, size_t* ran) {
  return RunRequestHooks("worker", chain, call, ran);
}

void RunOnResponse(const HostChain& chain, HostCall& call, size_t ran, absl::Status& status) {
  RunResponseHooks("host", chain, call, ran, status);
}

void RunOnResponse(const WorkerChain& chain, WorkerCall& call, size_t ran, absl::Status& status) {
  RunResponseHooks("worker", chain, call, ran, status);
}

std::string NewRequestId() {
  thread_local absl::InsecureBitGen gen;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(gen));
}

}  // namespace iw::internal
