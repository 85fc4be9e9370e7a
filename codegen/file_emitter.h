// -----------------------------------------------------------------------------
// File: codegen/file_emitter.h
// -----------------------------------------------------------------------------
//
// One generated file as a whole: the banner, include guard, includes, the
// package namespace and, inside it, the per-service parts written by
// handler_emitter.h and host_stub_emitter.h (services in declaration order).
// A .proto without services still gets both files, with no declarations.
//
// Example:
//
//   EmitHeader(model, &header_printer);   // <base>.iw.h
//   EmitSource(model, &source_printer);   // <base>.iw.cc

#ifndef IW_CODEGEN_FILE_EMITTER_H_
#define IW_CODEGEN_FILE_EMITTER_H_

#include "codegen/file_model.h"

namespace google::protobuf::io {
class Printer;
}  // namespace google::protobuf::io

namespace iw::codegen {

// Writes `<base>.iw.h` for `file`.
void EmitHeader(const FileModel& file, google::protobuf::io::Printer* printer);

// Writes `<base>.iw.cc` for `file`.
void EmitSource(const FileModel& file, google::protobuf::io::Printer* printer);

}  // namespace iw::codegen

#endif  // IW_CODEGEN_FILE_EMITTER_H_
