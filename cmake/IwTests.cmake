# CTest tests of the CMake build (IW_BUILD_TESTS): the codegen goldens and an
# end-to-end test with a real worker process. The same sources as the Bazel
# tests; binaries the tests spawn are put at their Bazel paths under the build
# tree, which the tests find through IW_TEST_DATA_DIR (see
# tests/testing/process_hygiene.h, RunfilePath).

find_path(IW_CATCH2_INCLUDE_DIR catch2/catch.hpp REQUIRED)

add_library(iw_catch_main STATIC tests/testing/catch_main.cc)
target_include_directories(iw_catch_main PUBLIC "${IW_CATCH2_INCLUDE_DIR}")
target_compile_features(iw_catch_main PUBLIC cxx_std_17)

add_library(iw_test_support STATIC tests/testing/process_hygiene.cc)
target_include_directories(iw_test_support PUBLIC "${PROJECT_SOURCE_DIR}")
target_link_libraries(iw_test_support PUBLIC iw_catch_main iw_runtime absl::strings absl::time)

# Codegen goldens: the generator in-process on tests/codegen/testdata, byte
# for byte against the goldens (reads its data relative to the source root).
add_executable(iw_golden_test tests/codegen/golden_test.cc)
target_link_libraries(iw_golden_test PRIVATE iw_codegen iw_catch_main)
add_test(NAME codegen_golden_test COMMAND iw_golden_test
         WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
# Its scratch directories go into the build tree, not /tmp.
file(MAKE_DIRECTORY "${PROJECT_BINARY_DIR}/Testing/tmp")
set_tests_properties(codegen_golden_test PROPERTIES
  ENVIRONMENT "TEST_TMPDIR=${PROJECT_BINARY_DIR}/Testing/tmp")

# iwtest.TestService, through iw_generate() like any user's .proto.
add_library(iw_test_service STATIC tests/workers/test_handler.cc)
iw_generate(TARGET iw_test_service
            PROTOS tests/workers/test_service.proto
            PROTO_ROOT "${PROJECT_SOURCE_DIR}"
            OUT_DIR "${PROJECT_BINARY_DIR}/iw_tests_generated")
target_include_directories(iw_test_service PUBLIC "${PROJECT_SOURCE_DIR}")

add_executable(iw_test_worker tests/workers/test_worker.cc)
target_link_libraries(iw_test_worker PRIVATE iw_test_service)
set_target_properties(iw_test_worker PROPERTIES
  OUTPUT_NAME test_worker
  RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests/workers")

# The same worker with gRPC, protobuf and Abseil linked statically
# (IwStaticWorker.cmake), for e2e_static_worker_test.
add_executable(iw_static_test_worker tests/workers/test_worker.cc)
target_link_libraries(iw_static_test_worker PRIVATE iw_test_service)
set_target_properties(iw_static_test_worker PROPERTIES
  OUTPUT_NAME static_test_worker
  RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests/workers")
iw_link_system_libraries_statically(iw_static_test_worker)

# End to end: real worker processes over real sockets.
add_executable(iw_spine_test tests/e2e/spine_test.cc)
target_link_libraries(iw_spine_test PRIVATE iw_test_service iw_test_support)
add_dependencies(iw_spine_test iw_test_worker)
add_test(NAME e2e_spine_test COMMAND iw_spine_test)
set_tests_properties(e2e_spine_test PROPERTIES
  ENVIRONMENT "IW_TEST_DATA_DIR=${PROJECT_BINARY_DIR}"
  TIMEOUT 300)

# The static worker under a dynamic host, and its DT_NEEDED entries.
add_executable(iw_static_worker_test tests/e2e/static_worker_test.cc)
target_link_libraries(iw_static_worker_test PRIVATE iw_test_service iw_test_support)
add_dependencies(iw_static_worker_test iw_test_worker iw_static_test_worker)
add_test(NAME e2e_static_worker_test COMMAND iw_static_worker_test)
set_tests_properties(e2e_static_worker_test PROPERTIES
  ENVIRONMENT "IW_TEST_DATA_DIR=${PROJECT_BINARY_DIR}"
  TIMEOUT 300)

# The Prometheus exporter's conversion and registrations (no workers), when
# IsolatedWorkers::prometheus is built.
if(IW_HAVE_PROMETHEUS)
  add_executable(iw_prometheus_exporter_test tests/prometheus/prometheus_exporter_test.cc)
  target_link_libraries(iw_prometheus_exporter_test PRIVATE
    iw_prometheus iw_test_support prometheus-cpp::core)
  add_test(NAME prometheus_exporter_test COMMAND iw_prometheus_exporter_test)
endif()
