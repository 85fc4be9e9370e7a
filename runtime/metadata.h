// -----------------------------------------------------------------------------
// File: metadata.h
// -----------------------------------------------------------------------------
//
// `iw::Metadata`: key/value pairs that travel with a call as gRPC metadata,
// from the host to the worker (request metadata) and back (response
// metadata). Host middleware adds request metadata (`HostCall`); the worker
// reads it from `CallContext::request_metadata()` and answers with
// `CallContext::AddResponseMetadata()`.
//
// Rules (checked; a violation fails the call, see docs/middleware.md):
// - keys are lowercase: [0-9a-z_.-]+;
// - a key ending in "-bin" holds arbitrary bytes, other values printable
//   ASCII (0x20..0x7e);
// - the prefixes "iw-" (this framework) and "grpc-" (gRPC) are reserved.

#ifndef IW_RUNTIME_METADATA_H_
#define IW_RUNTIME_METADATA_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace iw {

using Metadata = std::multimap<std::string, std::string>;

// The metadata key carrying the call's request id (16 hex digits), set by
// the host for every call.
inline constexpr char kRequestIdMetadataKey[] = "iw-request-id";

// OK if `key`/`value` may be sent; INVALID_ARGUMENT naming the rule
// otherwise.
absl::Status ValidateMetadataEntry(absl::string_view key, absl::string_view value);

}  // namespace iw

#endif  // IW_RUNTIME_METADATA_H_
