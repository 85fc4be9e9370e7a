// -----------------------------------------------------------------------------
// File: codegen/host_stub_emitter.h
// -----------------------------------------------------------------------------
//
// The host side of a service: `<Service>MethodConfig` (per-method host
// overrides) and `<Service>Host`, a subclass of iw::internal::HostStub with
// one synchronous and one asynchronous method per RPC plus `Spawn()`.
//
// Example (in a file emitter, inside the package namespace):
//
//   EmitMethodConfigStruct(service, printer);  // header
//   EmitHostClass(service, printer);           // header
//   EmitHostDefinitions(service, printer);     // source

#ifndef IW_CODEGEN_HOST_STUB_EMITTER_H_
#define IW_CODEGEN_HOST_STUB_EMITTER_H_

#include "codegen/file_model.h"

namespace google::protobuf::io {
class Printer;
}  // namespace google::protobuf::io

namespace iw::codegen {

// struct <Service>MethodConfig { ::iw::MethodOverrides <method>; ... };
void EmitMethodConfigStruct(const ServiceModel& service, google::protobuf::io::Printer* printer);

// class <Service>Host final : public ::iw::internal::HostStub { ... };
void EmitHostClass(const ServiceModel& service, google::protobuf::io::Printer* printer);

// Definitions of <Service>Host::Spawn() and of the per-RPC methods.
void EmitHostDefinitions(const ServiceModel& service, google::protobuf::io::Printer* printer);

}  // namespace iw::codegen

#endif  // IW_CODEGEN_HOST_STUB_EMITTER_H_
