// FOR INTERNAL USE. The schema check at spawn and connect: a worker tells its
// host which service it serves and a fingerprint of that service's wire
// schema; the host refuses a worker that does not match its own.
//
// The fingerprint is computed at run time on both sides from the descriptors
// protoc compiled into each binary (the generated pool), so it cannot drift
// from the code that actually parses the messages. It covers only facts that
// change how bytes on the wire are read (see docs/lifecycle.md, "Schema
// check"):
// - each method: its name and streaming flags, and its request and reply
//   message types, by structure;
// - each message type reached from them, transitively: for every field, its
//   number, declared type (int32, string, message...) and whether it is
//   repeated; message-typed fields recurse.
// Names of messages, fields and enum values, comments, options, field
// presence and enum values are left out: renaming a field or a message, or
// editing a comment, keeps the fingerprint.
//
// OS/protobuf pitfalls:
// - A service compiled with optimize_for = LITE_RUNTIME has no descriptors:
//   its fingerprint is empty, and only the service's name is compared.
#ifndef IW_RUNTIME_WIRE_SCHEMA_H_
#define IW_RUNTIME_WIRE_SCHEMA_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/options.h"

namespace iw::internal {

struct ServiceSchema {
  std::string full_name;
  // 16 hex digits; empty when this binary has no descriptors for it.
  std::string fingerprint;
};

// This binary's schema of `service` (computed once per service, cached).
const ServiceSchema& SchemaOf(const codegen::ServiceInfo& service);

// The canonical text the fingerprint hashes (for tests and debugging), or
// empty when the service has no descriptors.
std::string CanonicalSchemaText(absl::string_view service_full_name);

// "<full_name> <fingerprint or ->": one line of printable ASCII, carried by
// the ready message and by gRPC metadata.
std::string EncodeSchema(const ServiceSchema& schema);
absl::StatusOr<ServiceSchema> DecodeSchema(absl::string_view encoded);

// OK if `worker` may serve a host whose schema is `host` under `check`;
// otherwise FAILED_PRECONDITION naming both services and fingerprints,
// prefixed with `what`.
absl::Status CheckSchema(const ServiceSchema& host, const ServiceSchema& worker, SchemaCheck check,
                         absl::string_view what);

// The gRPC metadata key under which a worker gives its encoded schema (in
// the trailers of a call to a method it does not have, e.g. the connect
// probe).
inline constexpr char kSchemaMetadataKey[] = "iw-service-schema";

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_SCHEMA_H_
