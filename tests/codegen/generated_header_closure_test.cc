// A generated header's include closure holds no gRPC header and no internal
// runtime header. The checks are at compile time (a violation fails the
// build of this test); the test case checks what the user-facing API
// declares.

#include "tests/workers/test_service.iw.h"

// After the generated header: each guard of an internal header is an #error.
#include "tests/codegen/internal_guards.h"

#include <type_traits>

#include "catch2/catch.hpp"

// Every gRPC header includes one of these.
#if defined(GRPC_IMPL_CODEGEN_PORT_PLATFORM_H) || defined(GRPC_SUPPORT_PORT_PLATFORM_H)
#error "a generated header includes a gRPC header"
#endif

TEST_CASE("A generated host derives from the public iw::HostBase and is started by its factories",
          "[codegen]") {
  STATIC_REQUIRE(std::is_base_of_v<iw::HostBase, iwtest::TestServiceHost>);
  STATIC_REQUIRE(!std::is_default_constructible_v<iwtest::TestServiceHost>);
  STATIC_REQUIRE(!std::is_copy_constructible_v<iwtest::TestServiceHost>);
}
