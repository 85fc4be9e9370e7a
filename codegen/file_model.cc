#include "codegen/file_model.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "codegen/names.h"
#include "codegen/proto_options.h"
#include "google/protobuf/descriptor.h"

namespace iw::codegen {
namespace {

using ::google::protobuf::FileDescriptor;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;

// Members every generated host has, with the class declaring them: a
// generated host method must not hide or overload them.
struct HostMember {
  absl::string_view name;
  absl::string_view owner;
};
constexpr HostMember kHostMembers[] = {
    {"Close", "iw::HostBase"},
    {"state", "iw::HostBase"},
    {"IsActive", "iw::HostBase"},
    {"pid", "iw::HostBase"},
    {"worker_id", "iw::HostBase"},
    {"CallErased", "iw::HostBase"},
    {"CallAsyncErased", "iw::HostBase"},
    {"HostBase", "iw::HostBase"},
    {"stats", "iw::HostBase"},
    {"Call", "iw::HostBase"},
    {"CallAsync", "iw::HostBase"},
    {"OpenStream", "iw::HostBase"},
    {"StreamAsync", "iw::HostBase"},
    {"StreamAsyncErased", "iw::HostBase"},
    // Generated in every <Service>Host.
    {"Spawn", ""},
    {"SpawnPool", ""},
    {"InProcess", ""},
    {"Connect", ""},
    {"Overrides", ""},
};

std::string ServicePrefix(const ServiceDescriptor& service) {
  return absl::StrCat(service.file()->name(), ": ", service.name(), ": ");
}

std::string MethodPrefix(const MethodDescriptor& method) {
  return absl::StrCat(method.service()->file()->name(), ": ", method.service()->name(), ".",
                      method.name(), ": ");
}

absl::Status WithPrefix(const std::string& prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// The class declaring host member `name` ("" if generated), or null.
const HostMember* FindHostMember(absl::string_view name) {
  for (const HostMember& member : kHostMembers) {
    if (name == member.name) return &member;
  }
  return nullptr;
}

// Checks the options of a streaming method against what its kind allows.
absl::Status CheckStreamingOptions(const MethodDescriptor& method, MethodKind kind,
                                   const MethodConfig& config) {
  if (kind == MethodKind::kUnary) return absl::OkStatus();
  const std::string prefix = MethodPrefix(method);
  if ((kind == MethodKind::kClientStreaming || kind == MethodKind::kBidiStreaming) &&
      config.on_crash.value_or(kCrashReject) == kCrashRetry) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "option (iw.method).on_crash: CRASH_RETRY is not allowed on a ",
        kind == MethodKind::kClientStreaming ? "client-streaming" : "bidirectional",
        " method: its requests are consumed as they are sent, so the runtime cannot "
        "replay them on a new worker (CRASH_RETRY is allowed on server-streaming methods)"));
  }
  if (config.inline_handler) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix,
                     "option (iw.method).inline_handler is not allowed on a streaming method: its "
                     "handler waits for stream messages that the thread it would run on delivers"));
  }
  return absl::OkStatus();
}

// Checks the names a method adds to the generated classes of its service.
absl::Status CheckMethodNames(const MethodDescriptor& method) {
  const ServiceDescriptor& service = *method.service();
  const std::string& name = method.name();
  const std::string prefix = MethodPrefix(method);
  if (IsCppKeyword(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "method name `", name, "` is a C++ keyword; rename the method"));
  }
  // The host methods generated for this method: <Method>Async only for the
  // kinds that have one (unary and server streaming).
  std::vector<std::string> host_methods = {name};
  if (HasAsyncMethod(KindOf(method))) host_methods.push_back(AsyncMethodName(name));
  for (const std::string& generated : host_methods) {
    if (const HostMember* member = FindHostMember(generated)) {
      const std::string host = HostClassName(service.name());
      const std::string other = member->owner.empty()
                                    ? absl::StrCat("the generated factory `", host, "::Spawn()`")
                                    : absl::StrCat("`", member->owner, "::", generated, "`");
      return absl::InvalidArgumentError(absl::StrCat(prefix, "generated method `", host,
                                                     "::", generated, "` collides with ", other,
                                                     "; rename the method"));
    }
    for (const std::string& class_name :
         {HostClassName(service.name()), HandlerClassName(service.name())}) {
      if (generated == class_name) {
        return absl::InvalidArgumentError(absl::StrCat(prefix, "method name `", generated,
                                                       "` is the name of the generated class `",
                                                       class_name, "`; rename the method"));
      }
    }
  }
  // Another method whose generated names clash with this one's.
  for (int i = 0; i < service.method_count(); ++i) {
    const MethodDescriptor& other = *service.method(i);
    if (&other == &method) continue;
    if (HasAsyncMethod(KindOf(other)) && AsyncMethodName(other.name()) == name) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "method name `", name, "` collides with the generated asynchronous method of `",
          other.name(), "`; rename one of them"));
    }
    if (i < method.index() && MethodConfigFieldName(other.name()) == MethodConfigFieldName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "field `", MethodConfigFieldName(name), "` of `",
                       MethodConfigStructName(service.name()), "` would be generated for both `",
                       other.name(), "` and `", name, "`; rename one of them"));
    }
  }
  return absl::OkStatus();
}

// The file declaring `full_name` (a message, enum, enum value, service or
// extension visible from `file`), or null. Each of these is a C++ name in the
// package's namespace.
const FileDescriptor* FindPackageSymbol(const FileDescriptor& file, const std::string& full_name) {
  const google::protobuf::DescriptorPool& pool = *file.pool();
  if (const auto* d = pool.FindMessageTypeByName(full_name)) return d->file();
  if (const auto* d = pool.FindEnumTypeByName(full_name)) return d->file();
  if (const auto* d = pool.FindEnumValueByName(full_name)) {
    return d->type()->file();
  }
  if (const auto* d = pool.FindServiceByName(full_name)) return d->file();
  if (const auto* d = pool.FindExtensionByName(full_name)) return d->file();
  return nullptr;
}

// Checks the namespace-level names generated for `service` against symbols
// of the package and against names generated for earlier services.
absl::Status CheckServiceNames(const ServiceDescriptor& service,
                               std::map<std::string, std::string>* generated_by) {
  const FileDescriptor& file = *service.file();
  const std::string prefix = ServicePrefix(service);
  std::vector<std::string> names = {
      HandlerClassName(service.name()),       HostClassName(service.name()),
      MethodConfigStructName(service.name()), BindFunctionName(service.name()),
      RunWorkerFunctionName(service.name()),
  };
  for (int i = 0; i < service.method_count(); ++i) {
    names.push_back(absl::StrCat("iw_internal::",
                                 InvokeFunctionName(service.name(), service.method(i)->name())));
  }
  for (const std::string& name : names) {
    const std::string full_name =
        file.package().empty() ? name : absl::StrCat(file.package(), ".", name);
    const FileDescriptor* declared_in = FindPackageSymbol(file, full_name);
    if (declared_in != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "generated name `", name, "` collides with `", full_name, "` declared in ",
          declared_in->name(), "; rename the service or that declaration"));
    }
    auto [it, inserted] = generated_by->emplace(name, service.name());
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, "generated name `", name,
                                                     "` is also generated for service ", it->second,
                                                     "; rename one of the services"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ServiceModel> BuildServiceModel(const ServiceDescriptor& service,
                                               std::map<std::string, std::string>* generated_by) {
  ServiceModel model;
  model.descriptor = &service;
  absl::StatusOr<ServiceConfig> config = ReadServiceConfig(service);
  if (!config.ok()) return WithPrefix(ServicePrefix(service), config.status());
  model.config = *config;
  for (int i = 0; i < service.method_count(); ++i) {
    const MethodDescriptor& method = *service.method(i);
    absl::StatusOr<MethodConfig> method_config = ReadMethodConfig(method);
    if (!method_config.ok()) {
      return WithPrefix(MethodPrefix(method), method_config.status());
    }
    const MethodKind kind = KindOf(method);
    absl::Status streaming = CheckStreamingOptions(method, kind, *method_config);
    if (!streaming.ok()) return streaming;
    absl::Status names = CheckMethodNames(method);
    if (!names.ok()) return names;
    model.methods.push_back({&method, kind, *method_config});
  }
  absl::Status names = CheckServiceNames(service, generated_by);
  if (!names.ok()) return names;
  return model;
}

}  // namespace

MethodKind KindOf(const MethodDescriptor& method) {
  if (method.client_streaming()) {
    return method.server_streaming() ? MethodKind::kBidiStreaming : MethodKind::kClientStreaming;
  }
  return method.server_streaming() ? MethodKind::kServerStreaming : MethodKind::kUnary;
}

bool HasAsyncMethod(MethodKind kind) {
  return kind == MethodKind::kUnary || kind == MethodKind::kServerStreaming;
}

absl::StatusOr<FileModel> BuildFileModel(const FileDescriptor& file) {
  FileModel model;
  model.file = &file;
  std::map<std::string, std::string> generated_by;  // name -> service
  for (int i = 0; i < file.service_count(); ++i) {
    absl::StatusOr<ServiceModel> service = BuildServiceModel(*file.service(i), &generated_by);
    if (!service.ok()) return service.status();
    model.services.push_back(*std::move(service));
  }
  return model;
}

}  // namespace iw::codegen
