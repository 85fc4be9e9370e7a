// The switches of a listening worker's operational services, and the parts
// of its reflection answers that no third-party client provokes (bytes that
// are no request, a request naming no query). What grpcurl-like clients see
// end to end is tested from Python: //tests/e2e:operational_services_test.
#include "runtime/worker/operational_services.h"

#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/server_builder.h>

#include <memory>
#include <string>

#include "catch2/catch.hpp"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.pb.h"

namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;
using iw::internal::AddServerReflection;
using iw::internal::HasServiceDescriptor;
using iw::internal::OperationalServicesConfig;
using iw::internal::ParseOperationalServicesFlag;
using iw::internal::ServerReflection;
using iw::testing::IsOk;
using iw::testing::StatusIs;

// The first field `number` of `set`, or null.
const UnknownField* FieldNumbered(const UnknownFieldSet& set, int number) {
  for (int i = 0; i < set.field_count(); ++i) {
    if (set.field(i).number() == number) return &set.field(i);
  }
  return nullptr;
}

// error_response.error_code (field 7, its field 1) of a serialized
// ServerReflectionResponse, read without the reflection protos, or -1.
int ErrorCodeOf(const std::string& response) {
  UnknownFieldSet fields;
  if (!fields.ParseFromString(response)) return -1;
  const UnknownField* error = FieldNumbered(fields, 7);
  if (error == nullptr || error->type() != UnknownField::TYPE_LENGTH_DELIMITED) return -1;
  UnknownFieldSet error_fields;
  if (!error_fields.ParseFromString(error->length_delimited())) return -1;
  const UnknownField* code = FieldNumbered(error_fields, 1);
  return code != nullptr && code->type() == UnknownField::TYPE_VARINT
             ? static_cast<int>(code->varint())
             : -1;
}

// The test worker's service: its .proto is compiled in (full runtime).
iw::codegen::ServiceInfo TestServiceInfo() {
  iw::codegen::ServiceInfo info{};
  info.full_name = "iwtest.TestService";
  return info;
}

TEST_CASE("ParseOperationalServicesFlag: sets the switch a flag names, from any boolean spelling",
          "[runtime][worker]") {
  auto [arg, health, reflection] = GENERATE(table<const char*, bool, bool>({
      {"--iw_health=false", false, true},
      {"--iw_health=0", false, true},
      {"--iw_health=NO", false, true},
      {"--iw_reflection=false", true, false},
      {"--iw_reflection=False", true, false},
  }));
  CAPTURE(arg);
  OperationalServicesConfig config;  // both on
  absl::StatusOr<bool> parsed = ParseOperationalServicesFlag(arg, &config);
  REQUIRE_THAT(parsed.status(), IsOk());
  CHECK(*parsed);
  CHECK(config.health == health);
  CHECK(config.reflection == reflection);
}

TEST_CASE("ParseOperationalServicesFlag: turns a switch back on", "[runtime][worker]") {
  OperationalServicesConfig config;
  config.health = config.reflection = false;
  REQUIRE_THAT(ParseOperationalServicesFlag("--iw_health=1", &config).status(), IsOk());
  REQUIRE_THAT(ParseOperationalServicesFlag("--iw_reflection=yes", &config).status(), IsOk());
  CHECK(config.health);
  CHECK(config.reflection);
}

TEST_CASE("ParseOperationalServicesFlag: leaves other arguments alone", "[runtime][worker]") {
  const char* arg = GENERATE("--iw_listen=unix:/tmp/s", "--iw_healthy=false", "--iw_health",
                             "iw_reflection=false", "");
  CAPTURE(arg);
  OperationalServicesConfig config;
  absl::StatusOr<bool> parsed = ParseOperationalServicesFlag(arg, &config);
  REQUIRE_THAT(parsed.status(), IsOk());
  CHECK_FALSE(*parsed);
  CHECK(config.health);
  CHECK(config.reflection);
}

TEST_CASE("ParseOperationalServicesFlag: a value that is no boolean is INVALID_ARGUMENT naming it",
          "[runtime][worker]") {
  OperationalServicesConfig config;
  CHECK_THAT(ParseOperationalServicesFlag("--iw_reflection=off-ish", &config).status(),
             StatusIs(absl::StatusCode::kInvalidArgument,
                      "--iw_reflection: expected true or false, got \"off-ish\""));
  CHECK_THAT(ParseOperationalServicesFlag("--iw_health=", &config).status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "--iw_health"));
  CHECK(config.health);
  CHECK(config.reflection);
}

TEST_CASE("AddServerReflection: registers nothing when reflection is off", "[runtime][worker]") {
  OperationalServicesConfig config;
  config.reflection = false;
  grpc::ServerBuilder builder;
  absl::StatusOr<std::unique_ptr<ServerReflection>> reflection =
      AddServerReflection(TestServiceInfo(), config, builder);
  REQUIRE_THAT(reflection.status(), IsOk());
  CHECK(*reflection == nullptr);
}

TEST_CASE("ServerReflection: lists the service, health only when on, and both versions",
          "[runtime][worker]") {
  OperationalServicesConfig config;
  config.health = GENERATE(true, false);
  grpc::ServerBuilder builder;
  absl::StatusOr<std::unique_ptr<ServerReflection>> reflection =
      AddServerReflection(TestServiceInfo(), config, builder);
  REQUIRE_THAT(reflection.status(), IsOk());
  REQUIRE(*reflection != nullptr);
  std::vector<std::string> expected = {"iwtest.TestService"};
  if (config.health) expected.push_back("grpc.health.v1.Health");
  expected.push_back("grpc.reflection.v1alpha.ServerReflection");
  expected.push_back("grpc.reflection.v1.ServerReflection");
  CHECK((*reflection)->service_names() == expected);
}

TEST_CASE(
    "ServerReflection: bytes that are no request are INVALID_ARGUMENT, an empty query "
    "is answered INVALID_ARGUMENT, an unknown symbol NOT_FOUND",
    "[runtime][worker]") {
  grpc::ServerBuilder builder;
  absl::StatusOr<std::unique_ptr<ServerReflection>> reflection =
      AddServerReflection(TestServiceInfo(), OperationalServicesConfig{}, builder);
  REQUIRE_THAT(reflection.status(), IsOk());
  CHECK_THAT((*reflection)->Answer("\xff\xff\xff").status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "does not parse"));

  absl::StatusOr<std::string> empty = (*reflection)->Answer("");
  REQUIRE_THAT(empty.status(), IsOk());
  CHECK(ErrorCodeOf(*empty) == 3);  // google.rpc.Code INVALID_ARGUMENT

  // file_containing_symbol (field 4) = "no.Such".
  absl::StatusOr<std::string> unknown = (*reflection)->Answer(std::string("\x22\x07no.Such", 9));
  REQUIRE_THAT(unknown.status(), IsOk());
  CHECK(ErrorCodeOf(*unknown) == 5);  // NOT_FOUND

  // file_containing_symbol = "iwtest.TestService": a file, no error.
  absl::StatusOr<std::string> known =
      (*reflection)->Answer(std::string("\x22\x12iwtest.TestService", 20));
  REQUIRE_THAT(known.status(), IsOk());
  CHECK(ErrorCodeOf(*known) == -1);
}

TEST_CASE("HasServiceDescriptor: true for a compiled-in service, false for an unknown name",
          "[runtime][worker]") {
  // Keeps test_service.pb.cc linked in (its descriptors register at start).
  CHECK(iwtest::EchoRequest::descriptor() != nullptr);
  CHECK(HasServiceDescriptor("iwtest.TestService"));
  CHECK_FALSE(HasServiceDescriptor("iwtest.NoSuchService"));
}

}  // namespace
