// FOR INTERNAL USE. Runs host and worker middleware chains (onion order,
// exceptions → INTERNAL) and handles the metadata that travels with a call.
#ifndef IW_RUNTIME_COMMON_MIDDLEWARE_CHAIN_H_
#define IW_RUNTIME_COMMON_MIDDLEWARE_CHAIN_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "runtime/metadata.h"
#include "runtime/middleware.h"

namespace iw::internal {

using HostChain = std::vector<std::shared_ptr<HostMiddleware>>;
using WorkerChain = std::vector<std::shared_ptr<WorkerMiddleware>>;

// Runs OnRequest of each step in order until one fails (its status is
// returned, prefixed with the method). `*ran` is the number of steps whose
// OnRequest returned OK (they get OnResponse). Host: also checks the
// request metadata they added, and HostCall::trace, which it adds to the
// request metadata ("traceparent", "tracestate") unless empty.
absl::Status RunOnRequest(const HostChain& chain, HostCall& call, size_t* ran);
absl::Status RunOnRequest(const WorkerChain& chain, WorkerCall& call, size_t* ran);
// Runs OnResponse of the first `ran` steps, last first.
void RunOnResponse(const HostChain& chain, HostCall& call, size_t ran, absl::Status& status);
void RunOnResponse(const WorkerChain& chain, WorkerCall& call, size_t ran, absl::Status& status);

// A fresh request id: 16 lowercase hex digits.
std::string NewRequestId();

// The user part of received gRPC metadata: drops gRPC's own keys
// ("grpc-...", ":authority", "user-agent", ...) and the framework's "iw-...".
template <class Multimap>
Metadata UserMetadata(const Multimap& received) {
  Metadata result;
  for (const auto& [key, value] : received) {
    absl::string_view k(key.data(), key.size());
    if (absl::StartsWith(k, "grpc-") || absl::StartsWith(k, "iw-") || absl::StartsWith(k, ":") ||
        k == "user-agent" || k == "content-type" || k == "te") {
      continue;
    }
    result.emplace(std::string(k), std::string(value.data(), value.size()));
  }
  return result;
}

}  // namespace iw::internal

#endif  // IW_RUNTIME_COMMON_MIDDLEWARE_CHAIN_H_
