// gRPC's health service switch and our server reflection service (see the
// header for why not gRPC's reflection plugin).

#include "runtime/worker/operational_services.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/codegen/rpc_service_method.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/slice.h>

#include <deque>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "runtime/worker/grpc_operational_protos.h"

namespace iw::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr char kHealthService[] = "grpc.health.v1.Health";
constexpr char kReflectionV1Alpha[] = "grpc.reflection.v1alpha.ServerReflection";
constexpr char kReflectionV1[] = "grpc.reflection.v1.ServerReflection";
// The message types the service parses and builds (v1 has the same wire
// format, so one set serves both versions).
constexpr char kRequestType[] = "grpc.reflection.v1alpha.ServerReflectionRequest";
constexpr char kResponseType[] = "grpc.reflection.v1alpha.ServerReflectionResponse";

// google.rpc.Code values for error_response.error_code.
constexpr int kCodeInvalidArgument = 3;
constexpr int kCodeNotFound = 5;

absl::StatusOr<bool> ParseBool(absl::string_view flag, absl::string_view value) {
  const std::string lower = absl::AsciiStrToLower(value);
  if (lower == "true" || lower == "1" || lower == "yes") return true;
  if (lower == "false" || lower == "0" || lower == "no") return false;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": expected true or false, got \"", value, "\""));
}

// A field of `type` that must exist (the embedded protos are gRPC's own:
// a missing field means a broken build, reported by Index::Create).
const FieldDescriptor* FieldOf(const Descriptor* type, const char* name,
                               std::vector<std::string>* missing) {
  const FieldDescriptor* field = type == nullptr ? nullptr : type->FindFieldByName(name);
  if (field == nullptr) {
    missing->push_back(absl::StrCat(type == nullptr ? "?" : type->full_name(), ".", name));
  }
  return field;
}

}  // namespace

absl::StatusOr<bool> ParseOperationalServicesFlag(absl::string_view arg,
                                                  OperationalServicesConfig* config) {
  for (auto [prefix, target] :
       {std::pair<absl::string_view, bool*>{"--iw_health=", &config->health},
        {"--iw_reflection=", &config->reflection}}) {
    absl::string_view value = arg;
    if (!absl::ConsumePrefix(&value, prefix)) continue;
    absl::StatusOr<bool> parsed = ParseBool(absl::StripSuffix(prefix, "="), value);
    if (!parsed.ok()) return parsed.status();
    *target = *parsed;
    return true;
  }
  return false;
}

void EnableHealthService(const OperationalServicesConfig& config) {
  grpc::EnableDefaultHealthCheckService(config.health);
}

bool HasServiceDescriptor(absl::string_view full_name) {
  return DescriptorPool::generated_pool()->FindServiceByName(std::string(full_name)) != nullptr;
}

// The descriptors reflection answers from, and the reflection protocol's
// fields (resolved once).
struct ServerReflection::Index {
  // gRPC's health and reflection protos, from the embedded descriptor set.
  DescriptorPool builtin_pool;
  // Thread-safe (its prototype cache has a lock); mutable: the reflection
  // API takes a non-const factory.
  mutable google::protobuf::DynamicMessageFactory factory{&builtin_pool};
  const Message* request_prototype = nullptr;
  const Message* response_prototype = nullptr;
  std::vector<std::string> service_names;

  struct {
    const FieldDescriptor* host;
    const FieldDescriptor* file_by_filename;
    const FieldDescriptor* file_containing_symbol;
    const FieldDescriptor* file_containing_extension;
    const FieldDescriptor* all_extension_numbers_of_type;
    const FieldDescriptor* list_services;
  } request;
  struct {
    const FieldDescriptor* containing_type;
    const FieldDescriptor* extension_number;
  } extension_request;
  struct {
    const FieldDescriptor* valid_host;
    const FieldDescriptor* original_request;
    const FieldDescriptor* file_descriptor_response;
    const FieldDescriptor* all_extension_numbers_response;
    const FieldDescriptor* list_services_response;
    const FieldDescriptor* error_response;
  } response;
  const FieldDescriptor* file_descriptor_proto;  // FileDescriptorResponse
  const FieldDescriptor* base_type_name;         // ExtensionNumberResponse
  const FieldDescriptor* extension_number;       // ExtensionNumberResponse
  const FieldDescriptor* service;                // ListServiceResponse
  const FieldDescriptor* service_name;           // ServiceResponse
  const FieldDescriptor* error_code;             // ErrorResponse
  const FieldDescriptor* error_message;          // ErrorResponse

  absl::Status Load() {
    google::protobuf::FileDescriptorSet set;
    if (!set.ParseFromArray(kGrpcOperationalProtos, static_cast<int>(kGrpcOperationalProtosSize))) {
      return absl::InternalError("embedded gRPC operational protos do not parse");
    }
    for (const google::protobuf::FileDescriptorProto& file : set.file()) {
      if (builtin_pool.BuildFile(file) == nullptr) {
        return absl::InternalError(absl::StrCat("embedded ", file.name(), " does not build"));
      }
    }
    const Descriptor* req = builtin_pool.FindMessageTypeByName(kRequestType);
    const Descriptor* resp = builtin_pool.FindMessageTypeByName(kResponseType);
    std::vector<std::string> missing;
    request = {FieldOf(req, "host", &missing),
               FieldOf(req, "file_by_filename", &missing),
               FieldOf(req, "file_containing_symbol", &missing),
               FieldOf(req, "file_containing_extension", &missing),
               FieldOf(req, "all_extension_numbers_of_type", &missing),
               FieldOf(req, "list_services", &missing)};
    const Descriptor* ext = request.file_containing_extension
                                ? request.file_containing_extension->message_type()
                                : nullptr;
    extension_request = {FieldOf(ext, "containing_type", &missing),
                         FieldOf(ext, "extension_number", &missing)};
    response = {FieldOf(resp, "valid_host", &missing),
                FieldOf(resp, "original_request", &missing),
                FieldOf(resp, "file_descriptor_response", &missing),
                FieldOf(resp, "all_extension_numbers_response", &missing),
                FieldOf(resp, "list_services_response", &missing),
                FieldOf(resp, "error_response", &missing)};
    auto type_of = [](const FieldDescriptor* f) { return f ? f->message_type() : nullptr; };
    file_descriptor_proto =
        FieldOf(type_of(response.file_descriptor_response), "file_descriptor_proto", &missing);
    base_type_name =
        FieldOf(type_of(response.all_extension_numbers_response), "base_type_name", &missing);
    extension_number =
        FieldOf(type_of(response.all_extension_numbers_response), "extension_number", &missing);
    service = FieldOf(type_of(response.list_services_response), "service", &missing);
    service_name = FieldOf(type_of(service), "name", &missing);
    error_code = FieldOf(type_of(response.error_response), "error_code", &missing);
    error_message = FieldOf(type_of(response.error_response), "error_message", &missing);
    if (!missing.empty()) {
      return absl::InternalError(absl::StrCat("embedded reflection.proto lacks ", missing[0]));
    }
    request_prototype = factory.GetPrototype(req);
    response_prototype = factory.GetPrototype(resp);
    return absl::OkStatus();
  }

  // The pools a name is looked up in: the program's own, then gRPC's.
  std::vector<const DescriptorPool*> Pools() const {
    return {DescriptorPool::generated_pool(), &builtin_pool};
  }

  // Adds `file` and every file it imports (transitively; each once) to the
  // response, the requested file first, as gRPC's reflection does.
  void AddFileAndDependencies(const FileDescriptor* file, Message* response_message) const {
    Message* files = response_message->GetReflection()->MutableMessage(
        response_message, response.file_descriptor_response, &factory);
    std::set<std::string> seen;
    std::deque<const FileDescriptor*> queue = {file};
    while (!queue.empty()) {
      const FileDescriptor* next = queue.front();
      queue.pop_front();
      if (!seen.insert(next->name()).second) continue;
      google::protobuf::FileDescriptorProto proto;
      next->CopyTo(&proto);
      files->GetReflection()->AddString(files, file_descriptor_proto, proto.SerializeAsString());
      for (int i = 0; i < next->dependency_count(); ++i) queue.push_back(next->dependency(i));
    }
  }

  void SetError(Message* response_message, int code, const std::string& text) const {
    Message* error = response_message->GetReflection()->MutableMessage(
        response_message, response.error_response, &factory);
    error->GetReflection()->SetInt32(error, error_code, code);
    error->GetReflection()->SetString(error, error_message, text);
  }

  void AnswerFileByName(const std::string& name, Message* out) const {
    for (const DescriptorPool* pool : Pools()) {
      if (const FileDescriptor* file = pool->FindFileByName(name)) {
        return AddFileAndDependencies(file, out);
      }
    }
    SetError(out, kCodeNotFound, absl::StrCat("file not found: ", name));
  }

  void AnswerFileContainingSymbol(const std::string& symbol, Message* out) const {
    for (const DescriptorPool* pool : Pools()) {
      if (const FileDescriptor* file = pool->FindFileContainingSymbol(symbol)) {
        return AddFileAndDependencies(file, out);
      }
    }
    SetError(out, kCodeNotFound, absl::StrCat("symbol not found: ", symbol));
  }

  void AnswerFileContainingExtension(const Message& request_message, Message* out) const {
    const Reflection* r = request_message.GetReflection();
    const Message& ext = r->GetMessage(request_message, request.file_containing_extension);
    const std::string type = ext.GetReflection()->GetString(ext, extension_request.containing_type);
    const int number = ext.GetReflection()->GetInt32(ext, extension_request.extension_number);
    for (const DescriptorPool* pool : Pools()) {
      const Descriptor* containing = pool->FindMessageTypeByName(type);
      if (containing == nullptr) continue;
      if (const FieldDescriptor* field = pool->FindExtensionByNumber(containing, number)) {
        return AddFileAndDependencies(field->file(), out);
      }
    }
    SetError(out, kCodeNotFound, absl::StrCat("extension not found: ", type, " #", number));
  }

  void AnswerExtensionNumbers(const std::string& type, Message* out) const {
    for (const DescriptorPool* pool : Pools()) {
      const Descriptor* containing = pool->FindMessageTypeByName(type);
      if (containing == nullptr) continue;
      std::vector<const FieldDescriptor*> extensions;
      pool->FindAllExtensions(containing, &extensions);
      Message* numbers = out->GetReflection()->MutableMessage(
          out, response.all_extension_numbers_response, &factory);
      numbers->GetReflection()->SetString(numbers, base_type_name, type);
      for (const FieldDescriptor* field : extensions) {
        numbers->GetReflection()->AddInt32(numbers, extension_number, field->number());
      }
      return;
    }
    SetError(out, kCodeNotFound, absl::StrCat("type not found: ", type));
  }

  void AnswerListServices(Message* out) const {
    Message* list =
        out->GetReflection()->MutableMessage(out, response.list_services_response, &factory);
    for (const std::string& name : service_names) {
      Message* entry = list->GetReflection()->AddMessage(list, service, &factory);
      entry->GetReflection()->SetString(entry, service_name, name);
    }
  }
};

absl::StatusOr<std::string> ServerReflection::Answer(absl::string_view request_bytes) const {
  const Index& index = *index_;
  std::unique_ptr<Message> request(index.request_prototype->New());
  if (!request->ParseFromArray(request_bytes.data(), static_cast<int>(request_bytes.size()))) {
    return absl::InvalidArgumentError("ServerReflectionRequest does not parse");
  }
  std::unique_ptr<Message> response(index.response_prototype->New());
  const Reflection* in = request->GetReflection();
  const Reflection* out = response->GetReflection();
  out->SetString(response.get(), index.response.valid_host,
                 in->GetString(*request, index.request.host));
  out->MutableMessage(response.get(), index.response.original_request, &index.factory)
      ->CopyFrom(*request);
  if (in->HasField(*request, index.request.file_by_filename)) {
    index.AnswerFileByName(in->GetString(*request, index.request.file_by_filename), response.get());
  } else if (in->HasField(*request, index.request.file_containing_symbol)) {
    index.AnswerFileContainingSymbol(in->GetString(*request, index.request.file_containing_symbol),
                                     response.get());
  } else if (in->HasField(*request, index.request.file_containing_extension)) {
    index.AnswerFileContainingExtension(*request, response.get());
  } else if (in->HasField(*request, index.request.all_extension_numbers_of_type)) {
    index.AnswerExtensionNumbers(
        in->GetString(*request, index.request.all_extension_numbers_of_type), response.get());
  } else if (in->HasField(*request, index.request.list_services)) {
    index.AnswerListServices(response.get());
  } else {
    index.SetError(response.get(), kCodeInvalidArgument, "the request names no query");
  }
  return response->SerializeAsString();
}

const std::vector<std::string>& ServerReflection::service_names() const {
  return index_->service_names;
}

namespace {

// One ServerReflectionInfo stream: each request read gets one response
// written, until the client half-closes (OK) or the call ends.
class ReflectionReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit ReflectionReactor(const ServerReflection* reflection) : reflection_(reflection) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Half-closed by the client, or the call was cancelled.
      Finish(grpc::Status::OK);
      return;
    }
    grpc::Slice slice;
    std::string bytes;
    if (request_.DumpToSingleSlice(&slice).ok()) {
      bytes.assign(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    absl::StatusOr<std::string> answer = reflection_->Answer(bytes);
    if (!answer.ok()) {
      Finish(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(answer.status().message())));
      return;
    }
    grpc::Slice reply(std::move(*answer));
    response_ = grpc::ByteBuffer(&reply, 1);
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "reflection response not sent"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const ServerReflection* const reflection_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

}  // namespace

// grpc.reflection.<version>.ServerReflection with its one bidi method, on
// raw bytes (the shape of gRPC's generated callback services).
class ServerReflection::GrpcService final : public grpc::Service {
 public:
  GrpcService(const char* method, const ServerReflection* reflection) {
    AddMethod(new grpc::internal::RpcServiceMethod(
        method, grpc::internal::RpcMethod::BIDI_STREAMING, nullptr));
    MarkMethodCallback(0,
                       new grpc::internal::CallbackBidiHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
                           [reflection](grpc::CallbackServerContext* /*context*/) {
                             return new ReflectionReactor(reflection);
                           }));
  }
};

ServerReflection::ServerReflection() : index_(std::make_unique<Index>()) {}
ServerReflection::~ServerReflection() = default;

absl::StatusOr<std::unique_ptr<ServerReflection>> AddServerReflection(
    const codegen::ServiceInfo& service, const OperationalServicesConfig& config,
    grpc::ServerBuilder& builder) {
  if (!config.reflection) return nullptr;
  std::unique_ptr<ServerReflection> reflection(new ServerReflection());
  if (absl::Status loaded = reflection->index_->Load(); !loaded.ok()) return loaded;
  std::vector<std::string>& names = reflection->index_->service_names;
  names.push_back(service.full_name);
  if (config.health) names.push_back(kHealthService);
  names.push_back(kReflectionV1Alpha);
  names.push_back(kReflectionV1);
  for (const char* method : {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                             "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"}) {
    reflection->grpc_services_.push_back(
        std::make_unique<ServerReflection::GrpcService>(method, reflection.get()));
    builder.RegisterService(reflection->grpc_services_.back().get());
  }
  return reflection;
}

}  // namespace iw::internal
