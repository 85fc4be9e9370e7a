#include "codegen/host_stub_emitter.h"

#include <map>
#include <string>

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
  return WrapComment("  ", absl::StrCat("Timeout, the first one set of: `options.timeout`, `",
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
       "  // message size limits, middleware and worker_middleware apply;\n"
       "  // pid() is 0.\n",
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
    method_vars["timeout"] = TimeoutComment(service, method);
    method_vars["declaration"] = WrapList(
        "  ",
        absl::StrCat("::absl::StatusOr<", method_vars["response"], "> ", method_vars["method"]),
        "(",
        {absl::StrCat("const ", method_vars["request"], "& request"),
         "const ::iw::CallOptions& options = {}"},
        ");");
    method_vars["async_declaration"] =
        WrapList("  ", absl::StrCat("::iw::CallHandle ", method_vars["async_method"]), "(",
                 {absl::StrCat("const ", method_vars["request"], "& request"),
                  absl::StrCat("::std::function<void(::absl::StatusOr<", method_vars["response"],
                               ">)> done"),
                  "const ::iw::CallOptions& options = {}"},
                 ");");
    printer->Print(method_vars,
                   "\n"
                   "$comment$"
                   "$timeout$"
                   "$declaration$\n"
                   "  // Like $method$(), but returns at once; `done` runs exactly once, "
                   "on a\n"
                   "  // framework thread, with the reply or the error.\n"
                   "$async_declaration$\n");
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
    Vars method_vars = MethodVars(*method.descriptor);
    method_vars["signature"] =
        WrapList("",
                 absl::StrCat("::absl::StatusOr<", method_vars["response"], "> ",
                              vars["host_class"], "::", method_vars["method"]),
                 "(",
                 {absl::StrCat("const ", method_vars["request"], "& request"),
                  "const ::iw::CallOptions& options"},
                 ") {");
    method_vars["call"] = WrapList("  ", absl::StrCat("return Call<", method_vars["response"], ">"),
                                   "(", {method_vars["index"], "request", "options"}, ");");
    method_vars["async_signature"] = WrapList(
        "",
        absl::StrCat("::iw::CallHandle ", vars["host_class"], "::", method_vars["async_method"]),
        "(",
        {absl::StrCat("const ", method_vars["request"], "& request"),
         absl::StrCat("::std::function<void(::absl::StatusOr<", method_vars["response"],
                      ">)> done"),
         "const ::iw::CallOptions& options"},
        ") {");
    method_vars["async_call"] =
        WrapList("  ", absl::StrCat("return CallAsync<", method_vars["response"], ">"), "(",
                 {method_vars["index"], "request", "::std::move(done)", "options"}, ");");
    printer->Print(method_vars,
                   "\n"
                   "$signature$\n"
                   "$call$\n"
                   "}\n"
                   "\n"
                   "$async_signature$\n"
                   "$async_call$\n"
                   "}\n");
  }
  printer->Print("\n");
}

}  // namespace iw::codegen
