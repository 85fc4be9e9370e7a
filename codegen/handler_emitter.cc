#include "codegen/handler_emitter.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/file_model.h"
#include "codegen/formatting.h"
#include "codegen/names.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/printer.h"

namespace iw::codegen {
namespace {

using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;
using ::google::protobuf::io::Printer;
using Vars = std::map<std::string, std::string>;

Vars ServiceVars(const ServiceDescriptor& service) {
  const std::string& name = service.name();
  return {
      {"service", name},
      {"full_name", service.full_name()},
      {"handler_class", HandlerClassName(name)},
      {"service_info", ServiceInfoName(name)},
      {"method_table", MethodInfoTableName(name)},
      {"handler_table", MethodHandlerTableName(name)},
      {"bind", BindFunctionName(name)},
      {"run_worker", RunWorkerFunctionName(name)},
      {"method_count", absl::StrCat(service.method_count())},
  };
}

Vars MethodVars(const MethodDescriptor& method) {
  return {
      {"method", method.name()},
      {"request", QualifiedMessageName(*method.input_type())},
      {"response", QualifiedMessageName(*method.output_type())},
      {"invoke", InvokeFunctionName(method.service()->name(), method.name())},
      {"handler_class", HandlerClassName(method.service()->name())},
  };
}

std::string ReaderParam(const Vars& vars) {
  return absl::StrCat("::iw::StreamReader<", vars.at("request"), ">& reader");
}

std::string WriterParam(const Vars& vars) {
  return absl::StrCat("::iw::StreamWriter<", vars.at("response"), ">& writer");
}

// The pure virtual handler method: its signature depends on the kind
// (runtime/stream.h).
std::string HandlerDeclaration(const MethodModel& method, const Vars& vars) {
  const std::string status_or =
      absl::StrCat("virtual ::absl::StatusOr<", vars.at("response"), "> ", vars.at("method"));
  const std::string status = absl::StrCat("virtual ::absl::Status ", vars.at("method"));
  const std::string context = "::iw::CallContext& context";
  const std::string request = absl::StrCat("const ", vars.at("request"), "& request");
  switch (method.kind) {
    case MethodKind::kUnary:
      return WrapList("  ", status_or, "(", {context, request}, ") = 0;");
    case MethodKind::kServerStreaming:
      return WrapList("  ", status, "(", {context, request, WriterParam(vars)}, ") = 0;");
    case MethodKind::kClientStreaming:
      return WrapList("  ", status_or, "(", {context, ReaderParam(vars)}, ") = 0;");
    case MethodKind::kBidiStreaming:
      return WrapList("  ", status, "(", {context, ReaderParam(vars), WriterParam(vars)}, ") = 0;");
  }
  return "";
}

// The invoker of a unary method: MethodHandler::invoke.
void EmitUnaryInvoker(Vars method_vars, Printer* printer) {
  method_vars["signature"] =
      WrapList("", absl::StrCat("::absl::Status ", method_vars["invoke"]), "(",
               {"void* handler", "::iw::CallContext& context",
                "const ::google::protobuf::MessageLite& request",
                "::google::protobuf::MessageLite* response"},
               ") {");
  method_vars["call"] = WrapList(
      "      ",
      absl::StrCat("static_cast<", method_vars["handler_class"], "*>(handler)->",
                   method_vars["method"]),
      "(", {"context", absl::StrCat("static_cast<const ", method_vars["request"], "&>(request)")},
      ");");
  printer->Print(method_vars,
                 "\n"
                 "$signature$\n"
                 "  ::absl::StatusOr<$response$> result =\n"
                 "$call$\n"
                 "  if (!result.ok()) return result.status();\n"
                 "  *static_cast<$response$*>(response) = ::std::move(*result);\n"
                 "  return ::absl::OkStatus();\n"
                 "}\n");
}

// The invoker of a streaming method: MethodHandler::invoke_stream. It wraps
// the runtime's StreamIo in the typed reader and/or writer of the kind; the
// runtime reads the one request and writes the one response, if any.
void EmitStreamInvoker(const MethodModel& method, Vars method_vars, Printer* printer) {
  const bool reads = method.kind != MethodKind::kServerStreaming;
  const bool writes = method.kind != MethodKind::kClientStreaming;
  const bool one_response = method.kind == MethodKind::kClientStreaming;
  method_vars["signature"] = WrapList(
      "", absl::StrCat("::absl::Status ", method_vars["invoke"]), "(",
      {"void* handler", "::iw::CallContext& context",
       absl::StrCat("const ::google::protobuf::MessageLite* ", reads ? "/*request*/" : "request"),
       "::iw::internal::StreamIo& io",
       absl::StrCat("::google::protobuf::MessageLite* ",
                    one_response ? "response" : "/*response*/")},
      ") {");
  std::string streams;
  std::vector<std::string> args = {"context"};
  if (reads) {
    absl::StrAppend(&streams, "  ::iw::StreamReader<", method_vars["request"], "> reader(&io);\n");
    args.push_back("reader");
  } else {
    args.push_back(absl::StrCat("static_cast<const ", method_vars["request"], "&>(*request)"));
  }
  if (writes) {
    absl::StrAppend(&streams, "  ::iw::StreamWriter<", method_vars["response"], "> writer(&io);\n");
    args.push_back("writer");
  }
  method_vars["streams"] = streams;
  const std::string callee = absl::StrCat("static_cast<", method_vars["handler_class"],
                                          "*>(handler)->", method_vars["method"]);
  if (one_response) {
    method_vars["call"] = WrapList("      ", callee, "(", args, ");");
    printer->Print(method_vars,
                   "\n"
                   "$signature$\n"
                   "$streams$"
                   "  ::absl::StatusOr<$response$> result =\n"
                   "$call$\n"
                   "  if (!result.ok()) return result.status();\n"
                   "  *static_cast<$response$*>(response) = ::std::move(*result);\n"
                   "  return ::absl::OkStatus();\n"
                   "}\n");
  } else {
    method_vars["call"] = WrapList("  ", absl::StrCat("return ", callee), "(", args, ");");
    printer->Print(method_vars,
                   "\n"
                   "$signature$\n"
                   "$streams$"
                   "$call$\n"
                   "}\n");
  }
}

}  // namespace

void EmitHandlerInterface(const ServiceModel& service, Printer* printer) {
  const ServiceDescriptor& descriptor = *service.descriptor;
  Vars vars = ServiceVars(descriptor);
  const std::string comment = LeadingComment(descriptor, "");
  vars["comment"] = comment.empty() ? "" : absl::StrCat(comment, "//\n");
  printer->Print(vars,
                 "$comment$"
                 "// Implemented in the worker process. A missing method is a "
                 "compile error.\n"
                 "// Methods may run concurrently, on framework threads.\n"
                 "class $handler_class$ {\n"
                 " public:\n"
                 "  virtual ~$handler_class$() = default;\n");
  for (const MethodModel& method : service.methods) {
    Vars method_vars = MethodVars(*method.descriptor);
    method_vars["comment"] = LeadingComment(*method.descriptor, "  ");
    method_vars["declaration"] = HandlerDeclaration(method, method_vars);
    printer->Print(method_vars,
                   "\n"
                   "$comment$"
                   "$declaration$\n");
  }
  printer->Print("};\n\n");
}

void EmitWorkerDeclarations(const ServiceModel& service, Printer* printer) {
  Vars vars = ServiceVars(*service.descriptor);
  vars["bind_declaration"] =
      WrapList("", absl::StrCat("::iw::codegen::ServiceBinding ", vars["bind"]), "(",
               {absl::StrCat(vars["handler_class"], "& handler")}, ");");
  vars["run_declaration"] =
      WrapList("", absl::StrCat("int ", vars["run_worker"]), "(",
               {"int argc", "char** argv", absl::StrCat(vars["handler_class"], "& handler")}, ");");
  vars["run_config_declaration"] =
      WrapList("", absl::StrCat("int ", vars["run_worker"]), "(",
               {"int argc", "char** argv", absl::StrCat(vars["handler_class"], "& handler"),
                "const ::iw::WorkerConfig& config"},
               ");");
  printer->Print(vars,
                 "// Binds `handler` to the $service$ method table (for the runtime and\n"
                 "// tests). `handler` must outlive every use of the binding.\n"
                 "$bind_declaration$\n"
                 "\n"
                 "// Worker entry point: call from the worker binary's main(). Serves\n"
                 "// `handler` until the host closes the worker; returns the process "
                 "exit code.\n"
                 "$run_declaration$\n"
                 "// The same, with worker-side middleware and other settings.\n"
                 "$run_config_declaration$\n"
                 "\n"
                 "namespace iw_internal {\n"
                 "// Static description of the $service$ service (generated; do not use\n"
                 "// directly).\n"
                 "extern const ::iw::codegen::ServiceInfo $service_info$;\n"
                 "}  // namespace iw_internal\n");
}

void EmitServiceTables(const ServiceModel& service, Printer* printer) {
  Vars vars = ServiceVars(*service.descriptor);
  printer->Print("namespace iw_internal {\n");
  if (!service.methods.empty()) {
    printer->Print(vars,
                   "namespace {\n"
                   "\n"
                   "constexpr ::iw::codegen::MethodInfo $method_table$[] = "
                   "{\n");
    for (const MethodModel& method : service.methods) {
      const MethodDescriptor& descriptor = *method.descriptor;
      const std::string path = GrpcMethodPath(descriptor.service()->full_name(), descriptor.name());
      printer->PrintRaw(absl::StrCat(
          WrapList(
              "    ", "", "{",
              {absl::StrCat("\"", descriptor.name(), "\""), absl::StrCat("\"", path, "\""),
               absl::StrCat("/*timeout_ms=*/", method.config.timeout_ms.value_or(0)),
               absl::StrCat("/*on_deadline=*/", method.config.on_deadline.value_or(0)),
               absl::StrCat("/*deadline_grace_ms=*/", method.config.deadline_grace_ms.value_or(-1)),
               absl::StrCat("/*on_crash=*/", method.config.on_crash.value_or(0)),
               absl::StrCat("/*max_attempts=*/", method.config.max_attempts.value_or(0)),
               absl::StrCat("/*inline_handler=*/", method.config.inline_handler ? "true" : "false"),
               absl::StrCat("/*client_streaming=*/",
                            descriptor.client_streaming() ? "true" : "false"),
               absl::StrCat("/*server_streaming=*/",
                            descriptor.server_streaming() ? "true" : "false")},
              "},"),
          "\n"));
    }
    printer->Print("};\n");
  }
  for (const MethodModel& method : service.methods) {
    if (method.kind == MethodKind::kUnary) {
      EmitUnaryInvoker(MethodVars(*method.descriptor), printer);
    } else {
      EmitStreamInvoker(method, MethodVars(*method.descriptor), printer);
    }
  }
  if (!service.methods.empty()) {
    printer->Print(vars,
                   "\n"
                   "const ::iw::codegen::MethodHandler $handler_table$[] = "
                   "{\n");
    for (const MethodModel& method : service.methods) {
      Vars method_vars = MethodVars(*method.descriptor);
      // {request_prototype, response_prototype, invoke[, invoke_stream]}
      std::vector<std::string> fields = {
          absl::StrCat("&", method_vars["request"], "::default_instance()"),
          absl::StrCat("&", method_vars["response"], "::default_instance()")};
      if (method.kind == MethodKind::kUnary) {
        fields.push_back(absl::StrCat("&", method_vars["invoke"]));
      } else {
        fields.push_back("/*invoke=*/nullptr");
        fields.push_back(absl::StrCat("&", method_vars["invoke"]));
      }
      printer->PrintRaw(absl::StrCat(WrapList("    ", "", "{", fields, "},"), "\n"));
    }
    printer->Print(
        "};\n"
        "\n"
        "}  // namespace\n");
  }
  const ServiceConfig& config = service.config;
  vars["definition"] = WrapList(
      "", absl::StrCat("const ::iw::codegen::ServiceInfo ", vars["service_info"], " = "), "{",
      {absl::StrCat("\"", vars["full_name"], "\""),
       service.methods.empty() ? "nullptr" : vars["method_table"], vars["method_count"],
       absl::StrCat("/*default_timeout_ms=*/", config.default_timeout_ms.value_or(0)),
       absl::StrCat("/*startup_timeout_ms=*/", config.startup_timeout_ms.value_or(0)),
       absl::StrCat("/*max_concurrent_calls=*/", config.max_concurrent_calls.value_or(0)),
       absl::StrCat("/*max_request_bytes=*/", config.max_request_bytes.value_or(0)),
       absl::StrCat("/*max_response_bytes=*/", config.max_response_bytes.value_or(0))},
      "};");
  printer->Print(vars,
                 "\n"
                 "$definition$\n"
                 "\n"
                 "}  // namespace iw_internal\n");
}

void EmitWorkerDefinitions(const ServiceModel& service, Printer* printer) {
  Vars vars = ServiceVars(*service.descriptor);
  vars["bind_signature"] =
      WrapList("", absl::StrCat("::iw::codegen::ServiceBinding ", vars["bind"]), "(",
               {absl::StrCat(vars["handler_class"], "& handler")}, ") {");
  vars["bind_return"] =
      WrapList("  ", "return ", "{",
               {absl::StrCat("&iw_internal::", vars["service_info"]),
                service.methods.empty() ? std::string("nullptr")
                                        : absl::StrCat("iw_internal::", vars["handler_table"]),
                "&handler"},
               "};");
  vars["run_signature"] = WrapList(
      "", absl::StrCat("int ", vars["run_worker"]), "(",
      {"int argc", "char** argv", absl::StrCat(vars["handler_class"], "& handler")}, ") {");
  vars["run_return"] = WrapList("  ", "return ::iw::codegen::RunWorker", "(",
                                {"argc", "argv", absl::StrCat(vars["bind"], "(handler)")}, ");");
  vars["run_config_signature"] =
      WrapList("", absl::StrCat("int ", vars["run_worker"]), "(",
               {"int argc", "char** argv", absl::StrCat(vars["handler_class"], "& handler"),
                "const ::iw::WorkerConfig& config"},
               ") {");
  vars["run_config_return"] =
      WrapList("  ", "return ::iw::codegen::RunWorker", "(",
               {"argc", "argv", absl::StrCat(vars["bind"], "(handler)"), "config"}, ");");
  printer->Print(vars,
                 "$bind_signature$\n"
                 "$bind_return$\n"
                 "}\n"
                 "\n"
                 "$run_signature$\n"
                 "$run_return$\n"
                 "}\n"
                 "\n"
                 "$run_config_signature$\n"
                 "$run_config_return$\n"
                 "}\n");
}

}  // namespace iw::codegen
