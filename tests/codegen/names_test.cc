// Unit tests of codegen/names.h.

#include "codegen/names.h"

#include <string>

#include "catch2/catch.hpp"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"

namespace iw::codegen {
namespace {

TEST_CASE("Names: generated file names strip .proto and add .iw.h/.iw.cc", "[codegen]") {
  CHECK(FileBaseName("examples/ping/ping.proto") == "examples/ping/ping");
  CHECK(FileBaseName("old.protodevel") == "old");
  CHECK(FileBaseName("no_suffix") == "no_suffix");
  CHECK(GeneratedHeaderName("examples/ping/ping.proto") == "examples/ping/ping.iw.h");
  CHECK(GeneratedSourceName("examples/ping/ping.proto") == "examples/ping/ping.iw.cc");
  CHECK(ProtobufHeaderName("examples/ping/ping.proto") == "examples/ping/ping.pb.h");
  CHECK(GeneratedHeaderName("top.proto") == "top.iw.h");
}

TEST_CASE("Names: include guards upper-case the path and replace the rest", "[codegen]") {
  CHECK(IncludeGuard("examples/ping/ping.iw.h") == "IW_GEN_EXAMPLES_PING_PING_IW_H_");
  CHECK(IncludeGuard("basic.iw.h") == "IW_GEN_BASIC_IW_H_");
  CHECK(IncludeGuard("a-b/c d/v2.iw.h") == "IW_GEN_A_B_C_D_V2_IW_H_");
}

TEST_CASE("Names: packages map to C++ namespaces", "[codegen]") {
  CHECK(CppNamespace("demo.v1") == "demo::v1");
  CHECK(CppNamespace("demo") == "demo");
  CHECK(CppNamespace("") == "");
  CHECK(QualifiedNamespacePrefix("demo.v1") == "::demo::v1");
  CHECK(QualifiedNamespacePrefix("") == "");
}

TEST_CASE("Names: messages are named as protoc's C++ generator names them", "[codegen]") {
  google::protobuf::FileDescriptorProto proto;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "names_test.proto"
        package: "demo.v1"
        message_type {
          name: "Outer"
          nested_type { name: "Inner" }
        }
      )pb",
      &proto));
  google::protobuf::DescriptorPool pool;
  const google::protobuf::FileDescriptor* file = pool.BuildFile(proto);
  REQUIRE(file != nullptr);
  const google::protobuf::Descriptor& outer = *file->message_type(0);
  CHECK(QualifiedMessageName(outer) == "::demo::v1::Outer");
  CHECK(QualifiedMessageName(*outer.nested_type(0)) == "::demo::v1::Outer_Inner");

  proto.set_name("no_package.proto");
  proto.clear_package();
  const google::protobuf::FileDescriptor* global = pool.BuildFile(proto);
  REQUIRE(global != nullptr);
  CHECK(QualifiedMessageName(*global->message_type(0)) == "::Outer");
}

TEST_CASE("Names: generated symbols of a service", "[codegen]") {
  CHECK(HandlerClassName("Calculator") == "CalculatorHandler");
  CHECK(HostClassName("Calculator") == "CalculatorHost");
  CHECK(MethodConfigStructName("Calculator") == "CalculatorMethodConfig");
  CHECK(BindFunctionName("Calculator") == "BindCalculatorHandler");
  CHECK(RunWorkerFunctionName("Calculator") == "RunCalculatorWorker");
  CHECK(ServiceInfoName("Calculator") == "kCalculatorService");
  CHECK(MethodInfoTableName("Calculator") == "kCalculatorMethods");
  CHECK(MethodHandlerTableName("Calculator") == "kCalculatorHandlers");
  CHECK(InvokeFunctionName("Calculator", "Add") == "InvokeCalculatorAdd");
  CHECK(AsyncMethodName("Add") == "AddAsync");
  CHECK(GrpcMethodPath("demo.v1.Calculator", "Add") == "/demo.v1.Calculator/Add");
  CHECK(GrpcMethodPath("Pinger", "Ping") == "/Pinger/Ping");
}

TEST_CASE("Names: SnakeCase splits words and acronyms", "[codegen]") {
  auto [input, expected] = GENERATE(table<std::string, std::string>({
      {"Add", "add"},
      {"DeleteAll", "delete_all"},
      {"GetHTTPStatus", "get_http_status"},
      {"HTTPGet", "http_get"},
      {"V2Call", "v2_call"},
      {"already_snake", "already_snake"},
      {"mixed_CaseName", "mixed_case_name"},
      {"A", "a"},
      {"ABC", "abc"},
  }));
  CAPTURE(input);
  CHECK(SnakeCase(input) == expected);
}

TEST_CASE("Names: config fields get a trailing '_' for C++ keywords", "[codegen]") {
  CHECK(MethodConfigFieldName("Add") == "add");
  CHECK(MethodConfigFieldName("Delete") == "delete_");
  CHECK(MethodConfigFieldName("New") == "new_");
  CHECK(MethodConfigFieldName("Switch") == "switch_");
  CHECK(MethodConfigFieldName("DeleteAll") == "delete_all");
  CHECK(IsCppKeyword("and"));
  CHECK(IsCppKeyword("co_await"));
  CHECK_FALSE(IsCppKeyword("Delete"));
  CHECK_FALSE(IsCppKeyword("add"));
}

}  // namespace
}  // namespace iw::codegen
