// -----------------------------------------------------------------------------
// File: codegen/handler_emitter.h
// -----------------------------------------------------------------------------
//
// The worker side of a service: the `<Service>Handler` interface users
// implement, the type-erased method table the runtime dispatches through
// (`iw::internal::MethodHandler`), the `iw::internal::ServiceInfo` constant,
// `Bind<Service>Handler()` and `Run<Service>Worker()`.
//
// Example (in a file emitter, inside the package namespace):
//
//   EmitHandlerInterface(service, printer);    // header
//   EmitWorkerDeclarations(service, printer);  // header
//   EmitServiceTables(service, printer);       // source
//   EmitWorkerDefinitions(service, printer);   // source

#ifndef IW_CODEGEN_HANDLER_EMITTER_H_
#define IW_CODEGEN_HANDLER_EMITTER_H_

#include "codegen/file_model.h"

namespace google::protobuf::io {
class Printer;
}  // namespace google::protobuf::io

namespace iw::codegen {

// class <Service>Handler { virtual ... = 0; };
void EmitHandlerInterface(const ServiceModel& service, google::protobuf::io::Printer* printer);

// Declarations of Bind<Service>Handler(), Run<Service>Worker() and the
// iw_internal::k<Service>Service constant.
void EmitWorkerDeclarations(const ServiceModel& service, google::protobuf::io::Printer* printer);

// namespace iw_internal { method table, invoke functions, handler table,
// k<Service>Service definition }.
void EmitServiceTables(const ServiceModel& service, google::protobuf::io::Printer* printer);

// Definitions of Bind<Service>Handler() and Run<Service>Worker().
void EmitWorkerDefinitions(const ServiceModel& service, google::protobuf::io::Printer* printer);

}  // namespace iw::codegen

#endif  // IW_CODEGEN_HANDLER_EMITTER_H_
