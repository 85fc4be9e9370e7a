#include "runtime/wire/schema.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"

namespace iw::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

// Writes message structures in first-visit order; each message is written
// once and referred to by its index afterwards (recursive types).
class SchemaWriter {
 public:
  // "#<index>" for a message already written or being written; otherwise
  // its structure, "{<number>:<r|s><type>[<ref>],...}".
  std::string Message(const Descriptor* message) {
    auto [it, inserted] = index_.emplace(message, static_cast<int>(index_.size()));
    if (!inserted) return absl::StrCat("#", it->second);
    std::vector<const FieldDescriptor*> fields;
    for (int i = 0; i < message->field_count(); ++i) fields.push_back(message->field(i));
    std::sort(fields.begin(), fields.end(), [](const FieldDescriptor* a, const FieldDescriptor* b) {
      return a->number() < b->number();
    });
    std::string out = "{";
    for (const FieldDescriptor* field : fields) {
      absl::StrAppend(&out, field->number(), ":", field->is_repeated() ? "r" : "s",
                      field->type_name());
      if (field->message_type() != nullptr) out += Message(field->message_type());
      out += ",";
    }
    out += "}";
    return out;
  }

 private:
  std::map<const Descriptor*, int> index_;
};

// FNV-1a, 64 bits: stable across processes and builds (absl::Hash is not).
uint64_t Fnv1a64(absl::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

std::string CanonicalSchemaText(absl::string_view service_full_name) {
  const ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          std::string(service_full_name));
  if (service == nullptr) return "";
  std::vector<const MethodDescriptor*> methods;
  for (int i = 0; i < service->method_count(); ++i) methods.push_back(service->method(i));
  std::sort(
      methods.begin(), methods.end(),
      [](const MethodDescriptor* a, const MethodDescriptor* b) { return a->name() < b->name(); });
  SchemaWriter writer;
  std::string out = "iw-schema-v1;";
  for (const MethodDescriptor* method : methods) {
    absl::StrAppend(&out, method->name(), "(", method->client_streaming() ? "stream " : "",
                    writer.Message(method->input_type()), ")->(",
                    method->server_streaming() ? "stream " : "",
                    writer.Message(method->output_type()), ");");
  }
  return out;
}

const ServiceSchema& SchemaOf(const codegen::ServiceInfo& service) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* cache = new std::map<const codegen::ServiceInfo*, std::unique_ptr<ServiceSchema>>();
  absl::MutexLock lock(&mu);
  std::unique_ptr<ServiceSchema>& entry = (*cache)[&service];
  if (entry == nullptr) {
    entry = std::make_unique<ServiceSchema>();
    entry->full_name = service.full_name;
    const std::string text = CanonicalSchemaText(service.full_name);
    if (!text.empty())
      entry->fingerprint = absl::StrCat(absl::Hex(Fnv1a64(text), absl::kZeroPad16));
  }
  return *entry;
}

std::string EncodeSchema(const ServiceSchema& schema) {
  return absl::StrCat(schema.full_name, " ", schema.fingerprint.empty() ? "-" : schema.fingerprint);
}

absl::StatusOr<ServiceSchema> DecodeSchema(absl::string_view encoded) {
  std::vector<absl::string_view> parts = absl::StrSplit(encoded, ' ');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
    return absl::InternalError(
        absl::StrCat("malformed service schema \"", encoded.substr(0, 200), "\""));
  }
  ServiceSchema schema;
  schema.full_name = std::string(parts[0]);
  if (parts[1] != "-") schema.fingerprint = std::string(parts[1]);
  return schema;
}

absl::Status CheckSchema(const ServiceSchema& host, const ServiceSchema& worker, SchemaCheck check,
                         absl::string_view what) {
  auto describe = [](const ServiceSchema& schema) {
    return absl::StrCat(schema.full_name, " (schema fingerprint ",
                        schema.fingerprint.empty() ? "unknown" : schema.fingerprint, ")");
  };
  if (host.full_name != worker.full_name) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": the worker serves ", describe(worker), ", the host expects ", describe(host)));
  }
  if (check == SchemaCheck::kServiceName || host.fingerprint.empty() ||
      worker.fingerprint.empty() || host.fingerprint == worker.fingerprint) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      what, ": the worker serves ", describe(worker),
      " built from a different version of its .proto than the host's ", describe(host),
      ": a method, a streaming flag, or a field's number, type or cardinality differs "
      "(rebuild both from the same .proto, or set schema_check = SchemaCheck::kServiceName "
      "for versions you know to be wire-compatible)"));
}

}  // namespace iw::internal
