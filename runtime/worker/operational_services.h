// FOR INTERNAL USE. gRPC's standard operational services on a worker started
// by hand (--iw_listen): grpc.health.v1.Health and server reflection
// (grpc.reflection.v1alpha and grpc.reflection.v1), so that Kubernetes gRPC
// probes, grpc_health_probe, grpcurl, grpc_cli and Postman work with a
// worker as with any gRPC server. See docs/remote.md, "Health and reflection".
//
// Example (Serve() in serve.cc):
//
//   OperationalServicesConfig ops;                 // both on by default
//   ... ParseOperationalServicesFlag(argv[i], &ops) for each argument ...
//   EnableHealthService(ops);                      // before the builder
//   grpc::ServerBuilder builder;
//   builder.RegisterCallbackGenericService(...);   // the worker's service
//   IW_ASSIGN_OR_RETURN(std::unique_ptr<ServerReflection> reflection,
//                       AddServerReflection(service, ops, builder));
//   std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
//
// Why our own reflection service and not gRPC's ProtoServerReflectionPlugin
// (libgrpc++_reflection): the plugin lists the server's *named* services
// (Server::GetServiceList()), and a worker serves its methods through one
// generic callback service, so the worker's own service would be missing
// from list_services; the plugin speaks v1alpha only (newer grpcurl tries
// v1 first), and cannot describe grpc.health.v1.Health (gRPC's health service
// is built on upb, not on the C++ protobuf pool). This one answers from the
// process's generated descriptor pool (the worker's .proto and its imports)
// and from gRPC's own health/reflection protos embedded as data
// (grpc_operational_protos.h): no health.pb.cc or reflection.pb.cc is
// linked, so a program that links gRPC's copies too does not abort with
// "File already exists in database". (A program that turns gRPC's plugin on
// with InitProtoReflectionServerBuilderPlugin() registers the v1alpha method
// twice: its server does not start; it needs --iw_reflection=false.)
#ifndef IW_RUNTIME_WORKER_OPERATIONAL_SERVICES_H_
#define IW_RUNTIME_WORKER_OPERATIONAL_SERVICES_H_

#include <grpcpp/impl/service_type.h>
#include <grpcpp/server_builder.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/codegen_support/service_info.h"

namespace iw::internal {

// Which operational services a listening worker serves. Spawned workers
// (private socketpair, no --iw_listen) serve neither.
struct OperationalServicesConfig {
  // --iw_health=BOOL: grpc.health.v1.Health (Check and Watch). Off, health
  // calls get UNIMPLEMENTED, which gRPC's client-side health checking (what
  // remote hosts use) takes as "healthy": the worker stays in rotation until
  // its connections close.
  bool health = true;
  // --iw_reflection=BOOL: grpc.reflection.v1alpha/v1.ServerReflection. Off,
  // reflection calls get UNIMPLEMENTED.
  bool reflection = true;
};

// If `arg` is "--iw_health=BOOL" or "--iw_reflection=BOOL" (BOOL: true,
// false, 1, 0, yes, no), sets that switch of `config` and returns true;
// returns false for any other argument. InvalidArgumentError, naming the
// flag, for a value that is not a boolean.
absl::StatusOr<bool> ParseOperationalServicesFlag(absl::string_view arg,
                                                  OperationalServicesConfig* config);

// Switches gRPC's default health service on or off for the servers started
// after this call (grpc::EnableDefaultHealthCheckService: a process-wide
// switch, read by Server::Start(); serve.cc calls this before it constructs
// its builder). The service then knows "" (the whole
// server, SERVING) and answers NOT_FOUND for names nobody set; the caller
// sets the worker's service name SERVING once the server has started, and
// everything NOT_SERVING when it starts draining.
void EnableHealthService(const OperationalServicesConfig& config);

// Server reflection over the process's generated descriptor pool and gRPC's
// embedded operational protos. Immutable once created; thread-safe.
//
// IMPORTANT:
// - Must outlive every server it was added to (grpc::Service objects).
class ServerReflection {
 public:
  ServerReflection(const ServerReflection&) = delete;
  ServerReflection& operator=(const ServerReflection&) = delete;
  ~ServerReflection();

  // Answers one serialized ServerReflectionRequest (v1alpha and v1 share
  // the wire format) with a serialized ServerReflectionResponse. Lookup
  // failures are answered in the response (error_response: NOT_FOUND for
  // an unknown symbol or file, as gRPC's reflection does); InvalidArgument
  // only for bytes that do not parse as a request. Exposed for tests.
  absl::StatusOr<std::string> Answer(absl::string_view request) const;

  // The services list_services names.
  const std::vector<std::string>& service_names() const;

 private:
  friend absl::StatusOr<std::unique_ptr<ServerReflection>> AddServerReflection(
      const codegen::ServiceInfo& service, const OperationalServicesConfig& config,
      grpc::ServerBuilder& builder);
  struct Index;
  class GrpcService;

  ServerReflection();

  std::unique_ptr<Index> index_;
  std::vector<std::unique_ptr<grpc::Service>> grpc_services_;
};

// Registers grpc.reflection.v1alpha.ServerReflection and
// grpc.reflection.v1.ServerReflection on `builder` if config.reflection
// (null otherwise). list_services names `service`, grpc.health.v1.Health
// if config.health, and both reflection services. A service whose .proto
// was compiled for the lite runtime (option optimize_for = LITE_RUNTIME)
// has no descriptors: it is listed, and describing it gets NOT_FOUND (the
// caller warns; see HasServiceDescriptor).
// InternalError if the embedded protos do not load (a broken build).
absl::StatusOr<std::unique_ptr<ServerReflection>> AddServerReflection(
    const codegen::ServiceInfo& service, const OperationalServicesConfig& config,
    grpc::ServerBuilder& builder);

// Whether the process's generated descriptor pool describes the service
// `full_name` (false for a lite-runtime .proto).
bool HasServiceDescriptor(absl::string_view full_name);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_OPERATIONAL_SERVICES_H_
