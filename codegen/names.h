// -----------------------------------------------------------------------------
// File: codegen/names.h
// -----------------------------------------------------------------------------
//
// Every name protoc-gen-iw writes into generated code or uses as a file path,
// computed by pure functions so that the rules live in one place and are
// unit-tested (tests/codegen/names_test.cc).
//
// Example, for `service Calculator` in package `demo.v1` of
// `demo/v1/calculator.proto`:
//
//   GeneratedHeaderName("demo/v1/calculator.proto")  //
//   "demo/v1/calculator.iw.h" IncludeGuard("demo/v1/calculator.iw.h")   //
//   "IW_GEN_DEMO_V1_CALCULATOR_IW_H_" CppNamespace("demo.v1") // "demo::v1"
//   HostClassName("Calculator")               // "CalculatorHost"
//   MethodConfigFieldName("DeleteAll")        // "delete_all"

#ifndef IW_CODEGEN_NAMES_H_
#define IW_CODEGEN_NAMES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace google::protobuf {
class Descriptor;
}  // namespace google::protobuf

namespace iw::codegen {

// ---- Files ------------------------------------------------------------

// The .proto path without its ".proto" (or ".protodevel") suffix:
// "demo/v1/calculator.proto" -> "demo/v1/calculator".
std::string FileBaseName(absl::string_view proto_path);
// "demo/v1/calculator.proto" -> "demo/v1/calculator.iw.h".
std::string GeneratedHeaderName(absl::string_view proto_path);
// "demo/v1/calculator.proto" -> "demo/v1/calculator.iw.cc".
std::string GeneratedSourceName(absl::string_view proto_path);
// The header protoc's C++ generator writes: "demo/v1/calculator.pb.h".
std::string ProtobufHeaderName(absl::string_view proto_path);
// Include guard of a generated header: "IW_GEN_" + the path upper-cased, every
// character that is not a letter or digit replaced by '_', plus '_'.
// "demo/v1/calculator.iw.h" -> "IW_GEN_DEMO_V1_CALCULATOR_IW_H_".
std::string IncludeGuard(absl::string_view generated_header_path);

// ---- Namespaces and types
// ----------------------------------------------------

// The C++ namespace of a proto package, without leading "::":
// "demo.v1" -> "demo::v1"; "" -> "" (the global namespace).
std::string CppNamespace(absl::string_view package);
// The namespace prefix used to qualify names: "demo.v1" -> "::demo::v1",
// "" -> "". Append "::Name" to get a fully qualified name.
std::string QualifiedNamespacePrefix(absl::string_view package);
// Fully qualified C++ name of a message, exactly as protoc's C++ generator
// spells it: "::demo::v1::AddRequest", nested "::demo::v1::Outer_Inner".
std::string QualifiedMessageName(const google::protobuf::Descriptor& message);

// ---- Generated symbols of a service
// ------------------------------------------

// "Calculator" -> "CalculatorHandler".
std::string HandlerClassName(absl::string_view service_name);
// "Calculator" -> "CalculatorHost".
std::string HostClassName(absl::string_view service_name);
// "Calculator" -> "CalculatorMethodConfig".
std::string MethodConfigStructName(absl::string_view service_name);
// "Calculator" -> "BindCalculatorHandler".
std::string BindFunctionName(absl::string_view service_name);
// "Calculator" -> "RunCalculatorWorker".
std::string RunWorkerFunctionName(absl::string_view service_name);
// "Calculator" -> "kCalculatorService" (in <ns>::iw_internal).
std::string ServiceInfoName(absl::string_view service_name);
// "Calculator" -> "kCalculatorMethods" (file-local).
std::string MethodInfoTableName(absl::string_view service_name);
// "Calculator" -> "kCalculatorHandlers" (file-local).
std::string MethodHandlerTableName(absl::string_view service_name);
// ("Calculator", "Add") -> "InvokeCalculatorAdd" (file-local).
std::string InvokeFunctionName(absl::string_view service_name, absl::string_view method_name);
// "Add" -> "AddAsync".
std::string AsyncMethodName(absl::string_view method_name);
// ("demo.v1.Calculator", "Add") -> "/demo.v1.Calculator/Add".
std::string GrpcMethodPath(absl::string_view service_full_name, absl::string_view method_name);
// Field of <Service>MethodConfig: snake_case of the method name, with a
// trailing '_' when that is a C++ keyword. "Add" -> "add",
// "DeleteAll" -> "delete_all", "GetHTTPStatus" -> "get_http_status",
// "Delete" -> "delete_".
std::string MethodConfigFieldName(absl::string_view method_name);

// ---- Helpers
// -----------------------------------------------------------------

// "GetHTTPStatus" -> "get_http_status", "already_snake" -> "already_snake",
// "V2Call" -> "v2_call".
std::string SnakeCase(absl::string_view name);
// True for C++17 keywords and alternative tokens ("delete", "and", ...).
bool IsCppKeyword(absl::string_view name);

}  // namespace iw::codegen

#endif  // IW_CODEGEN_NAMES_H_
