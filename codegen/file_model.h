// -----------------------------------------------------------------------------
// File: codegen/file_model.h
// -----------------------------------------------------------------------------
//
// What the emitters generate from: the services of one .proto file with
// their validated options, in declaration order. Building the model is where
// all user errors are found (bad option values, options a streaming method
// cannot honour, names that would collide in the generated C++), so the
// emitters never fail.
//
// Example:
//
//   absl::StatusOr<FileModel> model = BuildFileModel(*file);
//   if (!model.ok()) {
//     // "demo/calc.proto: Calculator.Add: option (iw.method).timeout_ms
//     //  must be in [1, 604800000], got 0"
//     *error = std::string(model.status().message());
//   }

#ifndef IW_CODEGEN_FILE_MODEL_H_
#define IW_CODEGEN_FILE_MODEL_H_

#include <vector>

#include "absl/status/statusor.h"
#include "codegen/proto_options.h"

namespace google::protobuf {
class FileDescriptor;
class MethodDescriptor;
class ServiceDescriptor;
}  // namespace google::protobuf

namespace iw::codegen {

// Which side sends a stream (`stream` on the request / the response in the
// .proto); see runtime/stream.h for what each kind generates.
enum class MethodKind {
  kUnary,
  kServerStreaming,  // one request, a stream of responses
  kClientStreaming,  // a stream of requests, one response
  kBidiStreaming,    // both
};

MethodKind KindOf(const google::protobuf::MethodDescriptor& method);

// Whether the generated host has a `<Method>Async` for a method of `kind`
// (unary and server streaming: a client-streaming or bidirectional call is
// not one request, so it has no fire-and-callback form).
bool HasAsyncMethod(MethodKind kind);

struct MethodModel {
  const google::protobuf::MethodDescriptor* descriptor;
  MethodKind kind;
  MethodConfig config;
};

struct ServiceModel {
  const google::protobuf::ServiceDescriptor* descriptor;
  ServiceConfig config;
  std::vector<MethodModel> methods;  // declaration order
};

struct FileModel {
  const google::protobuf::FileDescriptor* file;
  std::vector<ServiceModel> services;  // declaration order
};

// Validates `file` and returns its model, or INVALID_ARGUMENT with a message
// "<file.proto>: <Service>[.<Method>]: <what is wrong>" for the first
// problem found (in declaration order).
absl::StatusOr<FileModel> BuildFileModel(const google::protobuf::FileDescriptor& file);

}  // namespace iw::codegen

#endif  // IW_CODEGEN_FILE_MODEL_H_
