#include "codegen/host_stub_emitter.h"

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
      {"host_class", HostClassName(name)},
      {"config_struct", MethodConfigStructName(name)},
      {"service_info", absl::StrCat(QualifiedNamespacePrefix(service.file()->package()),
                                    "::iw_internal::", ServiceInfoName(name))},
  };
}

Vars MethodVars(const MethodDescriptor& method) {
  return {
      {"method", method.name()},
      {"async_method", AsyncMethodName(method.name())},
      {"request", QualifiedMessageName(*method.input_type())},
      {"response", QualifiedMessageName(*method.output_type())},
      {"field", MethodConfigFieldName(method.name())},
      {"index", absl::StrCat(method.index())},
  };
}

// Comment about the timeout of `method`: where it comes from, in order.
std::string TimeoutComment(const ServiceModel& service, const MethodModel& method) {
  std::string default_timeout = "iw::kDefaultCallTimeout";
  if (method.config.timeout_ms.has_value()) {
    default_timeout = absl::StrCat(*method.config.timeout_ms, " ms from (iw.method).timeout_ms");
  } else if (service.config.default_timeout_ms.has_value()) {
    default_timeout = absl::StrCat(*service.config.default_timeout_ms,
                                   " ms from (iw.service).default_timeout_ms");
  }
  const absl::string_view what =
      method.kind == MethodKind::kUnary
          ? "Timeout"
          : "Timeout of the whole stream, from its start to its final status";
  return WrapComment("  ", absl::StrCat(what, ", the first one set of: `options.timeout`, `",
                                        MethodConfigFieldName(method.descriptor->name()),
                                        ".timeout` of Spawn()'s `methods`, "
                                        "WorkerOptions::call_timeout, ",
                                        default_timeout, "."));
}

// Comment lines about the service-level options of the .proto.
std::string ServiceDefaults(const ServiceConfig& config) {
  std::string lines;
  if (config.default_timeout_ms.has_value()) {
    absl::StrAppend(&lines, "// - default_timeout_ms: ", *config.default_timeout_ms, "\n");
  }
  if (config.startup_timeout_ms.has_value()) {
    absl::StrAppend(&lines, "// - startup_timeout_ms: ", *config.startup_timeout_ms, "\n");
  }
  if (config.max_concurrent_calls.has_value()) {
    absl::StrAppend(&lines, "// - max_concurrent_calls: ", *config.max_concurrent_calls, "\n");
  }
  if (config.max_request_bytes.has_value()) {
    absl::StrAppend(&lines, "// - max_request_bytes: ", *config.max_request_bytes, "\n");
  }
  if (config.max_response_bytes.has_value()) {
    absl::StrAppend(&lines, "// - max_response_bytes: ", *config.max_response_bytes, "\n");
  }
  if (lines.empty()) return "";
  return absl::StrCat("//\n// Options from the .proto (iw.service):\n", lines);
}

// What the host method of a streaming `kind` returns and how it is used,
// as comment lines ("" for unary methods).
std::string KindComment(MethodKind kind) {
  switch (kind) {
    case MethodKind::kUnary:
      return "";
    case MethodKind::kServerStreaming:
      return WrapComment("  ",
                         "Server streaming: returns at once; read the responses with Next() "
                         "(or a range-for), then Finish() for the final status.");
    case MethodKind::kClientStreaming:
      return WrapComment("  ",
                         "Client streaming: returns at once; Write() the requests, then "
                         "Finish() closes them and returns the one response.");
    case MethodKind::kBidiStreaming:
      return WrapComment("  ",
                         "Bidirectional streaming: returns at once; Write() requests and read "
                         "responses with Next() (one thread may write while another reads), "
                         "CloseWrites() when done, then Finish() for the final status.");
  }
  return "";
}

// The typed stream a streaming host method returns.
std::string StreamType(MethodKind kind, const Vars& vars) {
  switch (kind) {
    case MethodKind::kServerStreaming:
      return absl::StrCat("::iw::ResponseStream<", vars.at("response"), ">");
    case MethodKind::kClientStreaming:
      return absl::StrCat("::iw::RequestStream<", vars.at("request"), ", ", vars.at("response"),
                          ">");
    case MethodKind::kBidiStreaming:
      return absl::StrCat("::iw::BidiStream<", vars.at("request"), ", ", vars.at("response"), ">");
    case MethodKind::kUnary:
      break;
  }
  return "";
}

std::string RequestParam(const Vars& vars) {
  return absl::StrCat("const ", vars.at("request"), "& request");
}

// The parameters of `method`'s host method and of its <Method>Async (if it
// has one), without default values.
std::vector<std::string> HostMethodParams(MethodKind kind, const Vars& vars) {
  if (kind == MethodKind::kUnary || kind == MethodKind::kServerStreaming) {
    return {RequestParam(vars), "const ::iw::CallOptions& options"};
  }
  return {"const ::iw::CallOptions& options"};
}

std::vector<std::string> AsyncMethodParams(MethodKind kind, const Vars& vars) {
  if (kind == MethodKind::kServerStreaming) {
    return {RequestParam(vars),
            absl::StrCat("::std::function<void(", vars.at("response"), ")> on_message"),
            "::std::function<void(::absl::Status)> done", "const ::iw::CallOptions& options"};
  }
  return {RequestParam(vars),
          absl::StrCat("::std::function<void(::absl::StatusOr<", vars.at("response"), ">)> done"),
          "const ::iw::CallOptions& options"};
}

// `params` with the default value of the trailing `options`.
std::vector<std::string> WithDefaultOptions(std::vector<std::string> params) {
  params.back() += " = {}";
  return params;
}

std::string ReturnType(MethodKind kind, const Vars& vars) {
  if (kind == MethodKind::kUnary) {
    return absl::StrCat("::absl::StatusOr<", vars.at("response"), ">");
  }
  return StreamType(kind, vars);
}

// The declarations of `method`'s host methods in the class, each line ending
// in '\n'.
std::string HostMethodDeclarations(const MethodModel& method, const Vars& vars) {
  std::string text = absl::StrCat(
      WrapList("  ", absl::StrCat(ReturnType(method.kind, vars), " ", vars.at("method")), "(",
               WithDefaultOptions(HostMethodParams(method.kind, vars)), ");"),
      "\n");
  if (!HasAsyncMethod(method.kind)) return text;
  if (method.kind == MethodKind::kServerStreaming) {
    absl::StrAppend(&text,
                    WrapComment("  ", absl::StrCat("Like ", vars.at("method"),
                                                   "(), but returns at once; `on_message` runs "
                                                   "for each response, in order, then `done` "
                                                   "exactly once with the final status, on "
                                                   "framework threads, never two at a time.")));
  } else {
    absl::StrAppend(&text, "  // Like ", vars.at("method"),
                    "(), but returns at once; `done` runs exactly once, on a\n"
                    "  // framework thread, with the reply or the error.\n");
  }
  absl::StrAppend(&text,
                  WrapList("  ", absl::StrCat("::iw::CallHandle ", vars.at("async_method")), "(",
                           WithDefaultOptions(AsyncMethodParams(method.kind, vars)), ");"),
                  "\n");
  return text;
}

// The definitions of `method`'s host methods: one call into iw::HostBase each.
void EmitHostMethodDefinitions(const MethodModel& method, Vars method_vars,
                               const std::string& host_class, Printer* printer) {
  const MethodKind kind = method.kind;
  const std::string index = method_vars["index"];
  method_vars["signature"] = WrapList(
      "", absl::StrCat(ReturnType(kind, method_vars), " ", host_class, "::", method_vars["method"]),
      "(", HostMethodParams(kind, method_vars), ") {");
  switch (kind) {
    case MethodKind::kUnary:
      method_vars["call"] =
          WrapList("  ", absl::StrCat("return Call<", method_vars["response"], ">"), "(",
                   {index, "request", "options"}, ");");
      break;
    case MethodKind::kServerStreaming:
      method_vars["call"] =
          WrapList("  ", absl::StrCat("return ", StreamType(kind, method_vars)), "(",
                   {absl::StrCat("OpenStream(", index, ", &request, options)")}, ");");
      break;
    case MethodKind::kClientStreaming:
    case MethodKind::kBidiStreaming:
      method_vars["call"] =
          WrapList("  ", absl::StrCat("return ", StreamType(kind, method_vars)), "(",
                   {absl::StrCat("OpenStream(", index, ", nullptr, options)")}, ");");
      break;
  }
  printer->Print(method_vars,
                 "\n"
                 "$signature$\n"
                 "$call$\n"
                 "}\n");
  if (!HasAsyncMethod(kind)) return;
  method_vars["async_signature"] =
      WrapList("", absl::StrCat("::iw::CallHandle ", host_class, "::", method_vars["async_method"]),
               "(", AsyncMethodParams(kind, method_vars), ") {");
  if (kind == MethodKind::kServerStreaming) {
    method_vars["async_call"] = WrapList(
        "  ", absl::StrCat("return StreamAsync<", method_vars["response"], ">"), "(",
        {index, "request", "::std::move(on_message)", "::std::move(done)", "options"}, ");");
  } else {
    method_vars["async_call"] =
        WrapList("  ", absl::StrCat("return CallAsync<", method_vars["response"], ">"), "(",
                 {index, "request", "::std::move(done)", "options"}, ");");
  }
  printer->Print(method_vars,
                 "\n"
                 "$async_signature$\n"
                 "$async_call$\n"
                 "}\n");
}

}  // namespace

void EmitMethodConfigStruct(const ServiceModel& service, Printer* printer) {
  Vars vars = ServiceVars(*service.descriptor);
  printer->Print(vars,
                 "// Host-side settings per method of $service$: one field per RPC, so "
                 "a\n"
                 "// misspelt method name does not compile.\n"
                 "struct $config_struct$ {\n");
  for (const MethodModel& method : service.methods) {
    printer->Print(MethodVars(*method.descriptor), "  ::iw::MethodOverrides $field$;\n");
  }
  printer->Print("};\n\n");
}

// One parameter of a generated factory.
struct FactoryParam {
  std::string declaration;    // "::iw::WorkerOptions options"
  std::string default_value;  // "{}" in the declaration, or none
};

// A static factory of the generated host: how it is declared and which
// runtime function builds its connection.
struct HostFactory {
  std::string name;
  std::string comment;  // "  // ..." lines
  std::vector<FactoryParam> params;
  std::string runtime_function;
  std::vector<std::string> arguments;
};

std::vector<HostFactory> HostFactories(const Vars& vars) {
  const FactoryParam methods = {absl::StrCat("const ", vars.at("config_struct"), "& methods"),
                                "{}"};
  const FactoryParam handler = {absl::StrCat(HandlerClassName(vars.at("service")), "& handler"),
                                ""};
  const std::string bound = absl::StrCat(BindFunctionName(vars.at("service")), "(handler)");
  const std::string& info = vars.at("service_info");
  return {
      {"Spawn",
       "  // Spawns a worker and waits until it is ready. `methods` overrides\n"
       "  // settings of single methods.\n",
       {{"::iw::WorkerOptions options", ""}, methods},
       "::iw::codegen::SpawnWorker",
       {info, "::std::move(options)", "Overrides(methods)"}},
      {"SpawnPool",
       "  // Spawns a pool of workers (see iw::PoolOptions) behind the same\n"
       "  // typed methods: calls go to the least-loaded worker.\n",
       {{"::iw::WorkerOptions options", ""}, {"const ::iw::PoolOptions& pool", ""}, methods},
       "::iw::codegen::SpawnWorkerPool",
       {info, "::std::move(options)", "pool", "Overrides(methods)"}},
      {"InProcess",
       "  // Serves `handler` in this process instead (in-process mode, see\n"
       "  // docs/inprocess.md): the same typed methods, deadlines and errors,\n"
       "  // but no crash isolation. `handler` must outlive the host. Of\n"
       "  // `options`, only call_timeout, on_state_change, respawn, the\n"
       "  // message size limits, middleware, worker_middleware, worker_tracer,\n"
       "  // trace_propagator, log_sink and log_level apply; pid() is 0.\n",
       {handler, {"::iw::WorkerOptions options", "{}"}, methods},
       "::iw::codegen::StartInProcess",
       {bound, "::std::move(options)", "Overrides(methods)"}},
      {"InProcess",
       "  // The same, with `hooks` (an iw::testing::FaultInjector) perturbing\n"
       "  // the calls and the life of the worker. `hooks` must outlive the host.\n",
       {handler,
        {"::iw::InProcessHooks& hooks", ""},
        {"::iw::WorkerOptions options", "{}"},
        methods},
       "::iw::codegen::StartInProcess",
       {bound, "::std::move(options)", "Overrides(methods)", "&hooks"}},
      {"Connect",
       "  // Connects to workers already serving at `addresses` (started with\n"
       "  // --iw_listen, see docs/remote.md), one connection each, behind the\n"
       "  // same typed methods. TLS unless the addresses are local.\n",
       {{"const ::std::vector<::std::string>& addresses", ""},
        {"const ::iw::RemoteOptions& remote", "{}"},
        methods},
       "::iw::codegen::ConnectWorkers",
       {info, "addresses", "remote", "Overrides(methods)"}},
  };
}

void EmitHostClass(const ServiceModel& service, Printer* printer) {
  Vars vars = ServiceVars(*service.descriptor);
  vars["defaults"] = ServiceDefaults(service.config);
  vars["overrides"] = WrapList("  ", "static ::std::vector<::iw::MethodOverrides> Overrides", "(",
                               {absl::StrCat("const ", vars["config_struct"], "& methods")}, ");");
  std::string factories;
  for (const HostFactory& factory : HostFactories(vars)) {
    std::vector<std::string> params;
    for (const FactoryParam& param : factory.params) {
      params.push_back(param.default_value.empty()
                           ? param.declaration
                           : absl::StrCat(param.declaration, " = ", param.default_value));
    }
    absl::StrAppend(&factories, factory.comment,
                    WrapList("  ",
                             absl::StrCat("static ::absl::StatusOr<::std::unique_ptr<",
                                          vars["host_class"], ">> ", factory.name),
                             "(", params, ");"),
                    "\n");
  }
  vars["factories"] = factories;
  printer->Print(vars,
                 "// Owns one $service$ worker process and the connection to it. "
                 "Thread-safe.\n"
                 "$defaults$"
                 "//\n"
                 "// IMPORTANT:\n"
                 "// - Destroying the host closes the worker (see "
                 "iw::HostBase::Close());\n"
                 "//   the process is reaped and no callback runs after the destructor\n"
                 "//   returns.\n"
                 "// - Async callbacks run on framework threads; they must not block for\n"
                 "//   long and must not destroy the host.\n"
                 "class $host_class$ final : public ::iw::HostBase {\n"
                 " public:\n"
                 "$factories$");
  for (const MethodModel& method : service.methods) {
    Vars method_vars = MethodVars(*method.descriptor);
    const std::string comment = LeadingComment(*method.descriptor, "  ");
    method_vars["comment"] = comment.empty() ? "" : absl::StrCat(comment, "  //\n");
    const std::string kind = KindComment(method.kind);
    method_vars["kind"] = kind.empty() ? "" : absl::StrCat(kind, "  //\n");
    method_vars["timeout"] = TimeoutComment(service, method);
    method_vars["declarations"] = HostMethodDeclarations(method, method_vars);
    printer->Print(method_vars,
                   "\n"
                   "$comment$"
                   "$kind$"
                   "$timeout$"
                   "$declarations$");
  }
  printer->Print(vars,
                 "\n"
                 " private:\n"
                 "  using ::iw::HostBase::HostBase;\n"
                 "$overrides$\n"
                 "};\n\n");
}

void EmitHostDefinitions(const ServiceModel& service, Printer* printer) {
  Vars vars = ServiceVars(*service.descriptor);
  const std::string methods_param = service.methods.empty() ? "/*methods*/" : "methods";
  vars["overrides"] = WrapList(
      "", absl::StrCat("::std::vector<::iw::MethodOverrides> ", vars["host_class"], "::Overrides"),
      "(", {absl::StrCat("const ", vars["config_struct"], "& ", methods_param)}, ") {");
  printer->Print(vars, "$overrides$\n");
  if (service.methods.empty()) {
    printer->Print("  return {};\n");
  } else {
    printer->Print("  return {\n");
    for (const MethodModel& method : service.methods) {
      printer->Print(MethodVars(*method.descriptor), "      methods.$field$,\n");
    }
    printer->Print("  };\n");
  }
  printer->Print("}\n");

  for (const HostFactory& factory : HostFactories(vars)) {
    std::vector<std::string> params;
    for (const FactoryParam& param : factory.params) params.push_back(param.declaration);
    vars["signature"] =
        WrapList("",
                 absl::StrCat("::absl::StatusOr<::std::unique_ptr<", vars["host_class"], ">> ",
                              vars["host_class"], "::", factory.name),
                 "(", params, ") {");
    vars["call"] = WrapList("      ", factory.runtime_function, "(", factory.arguments, ");");
    printer->Print(vars,
                   "\n"
                   "$signature$\n"
                   "  ::absl::StatusOr<::iw::codegen::StartedWorkers> workers =\n"
                   "$call$\n"
                   "  if (!workers.ok()) return workers.status();\n"
                   "  return ::std::unique_ptr<$host_class$>(\n"
                   "      new $host_class$(::std::move(*workers)));\n"
                   "}\n");
  }
  for (const MethodModel& method : service.methods) {
    EmitHostMethodDefinitions(method, MethodVars(*method.descriptor), vars.at("host_class"),
                              printer);
  }
  printer->Print("\n");
}

}  // namespace iw::codegen
