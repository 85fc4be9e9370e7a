#include "codegen/names.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/compiler/cpp/names.h"
#include "google/protobuf/descriptor.h"

namespace iw::codegen {

std::string FileBaseName(absl::string_view proto_path) {
  for (absl::string_view suffix : {".protodevel", ".proto"}) {
    if (absl::EndsWith(proto_path, suffix)) {
      proto_path.remove_suffix(suffix.size());
      break;
    }
  }
  return std::string(proto_path);
}

std::string GeneratedHeaderName(absl::string_view proto_path) {
  return absl::StrCat(FileBaseName(proto_path), ".iw.h");
}

std::string GeneratedSourceName(absl::string_view proto_path) {
  return absl::StrCat(FileBaseName(proto_path), ".iw.cc");
}

std::string ProtobufHeaderName(absl::string_view proto_path) {
  return absl::StrCat(FileBaseName(proto_path), ".pb.h");
}

std::string IncludeGuard(absl::string_view generated_header_path) {
  std::string guard = "IW_GEN_";
  for (char c : generated_header_path) {
    guard.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c))
                        ? absl::ascii_toupper(static_cast<unsigned char>(c))
                        : '_');
  }
  guard.push_back('_');
  return guard;
}

std::string CppNamespace(absl::string_view package) {
  return absl::StrReplaceAll(package, {{".", "::"}});
}

std::string QualifiedNamespacePrefix(absl::string_view package) {
  if (package.empty()) return "";
  return absl::StrCat("::", CppNamespace(package));
}

std::string QualifiedMessageName(const google::protobuf::Descriptor& message) {
  return google::protobuf::compiler::cpp::QualifiedClassName(&message);
}

std::string HandlerClassName(absl::string_view service_name) {
  return absl::StrCat(service_name, "Handler");
}

std::string HostClassName(absl::string_view service_name) {
  return absl::StrCat(service_name, "Host");
}

std::string MethodConfigStructName(absl::string_view service_name) {
  return absl::StrCat(service_name, "MethodConfig");
}

std::string BindFunctionName(absl::string_view service_name) {
  return absl::StrCat("Bind", service_name, "Handler");
}

std::string RunWorkerFunctionName(absl::string_view service_name) {
  return absl::StrCat("Run", service_name, "Worker");
}

std::string ServiceInfoName(absl::string_view service_name) {
  return absl::StrCat("k", service_name, "Service");
}

std::string MethodInfoTableName(absl::string_view service_name) {
  return absl::StrCat("k", service_name, "Methods");
}

std::string MethodHandlerTableName(absl::string_view service_name) {
  return absl::StrCat("k", service_name, "Handlers");
}

std::string InvokeFunctionName(absl::string_view service_name, absl::string_view method_name) {
  return absl::StrCat("Invoke", service_name, method_name);
}

std::string AsyncMethodName(absl::string_view method_name) {
  return absl::StrCat(method_name, "Async");
}

std::string GrpcMethodPath(absl::string_view service_full_name, absl::string_view method_name) {
  return absl::StrCat("/", service_full_name, "/", method_name);
}

std::string MethodConfigFieldName(absl::string_view method_name) {
  std::string name = SnakeCase(method_name);
  if (IsCppKeyword(name)) name.push_back('_');
  return name;
}

std::string SnakeCase(absl::string_view name) {
  std::string out;
  out.reserve(name.size() + 4);
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (absl::ascii_isupper(c)) {
      if (i > 0 && !out.empty() && out.back() != '_') {
        const unsigned char prev = static_cast<unsigned char>(name[i - 1]);
        const bool next_is_lower =
            i + 1 < name.size() && absl::ascii_islower(static_cast<unsigned char>(name[i + 1]));
        if (absl::ascii_islower(prev) || absl::ascii_isdigit(prev) ||
            (absl::ascii_isupper(prev) && next_is_lower)) {
          out.push_back('_');
        }
      }
      out.push_back(absl::ascii_tolower(c));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

bool IsCppKeyword(absl::string_view name) {
  static constexpr absl::string_view kKeywords[] = {
      "alignas",       "alignof",     "and",
      "and_eq",        "asm",         "auto",
      "bitand",        "bitor",       "bool",
      "break",         "case",        "catch",
      "char",          "char8_t",     "char16_t",
      "char32_t",      "class",       "compl",
      "concept",       "const",       "consteval",
      "constexpr",     "constinit",   "const_cast",
      "continue",      "co_await",    "co_return",
      "co_yield",      "decltype",    "default",
      "delete",        "do",          "double",
      "dynamic_cast",  "else",        "enum",
      "explicit",      "export",      "extern",
      "false",         "float",       "for",
      "friend",        "goto",        "if",
      "inline",        "int",         "long",
      "mutable",       "namespace",   "new",
      "noexcept",      "not",         "not_eq",
      "nullptr",       "operator",    "or",
      "or_eq",         "private",     "protected",
      "public",        "register",    "reinterpret_cast",
      "requires",      "return",      "short",
      "signed",        "sizeof",      "static",
      "static_assert", "static_cast", "struct",
      "switch",        "template",    "this",
      "thread_local",  "throw",       "true",
      "try",           "typedef",     "typeid",
      "typename",      "union",       "unsigned",
      "using",         "virtual",     "void",
      "volatile",      "wchar_t",     "while",
      "xor",           "xor_eq",
  };
  for (absl::string_view keyword : kKeywords) {
    if (name == keyword) return true;
  }
  return false;
}

}  // namespace iw::codegen
