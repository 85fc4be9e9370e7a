#!/usr/bin/env bash
# This repository as a user builds it with CMake, from a copy of
# //:source_tree: configure, build, CTest, `cmake --install` into a temporary
# prefix; then, against that prefix,
#  - examples/consumer_cmake (find_package(IsolatedWorkers); also checks that
#    iw_generate() regenerates when an import or the plugin changes, and that
#    its worker is linked statically) and
#  - examples/consumer_make (a Makefile: protoc + g++ + pkg-config only),
#  - a small consumer of the optional IsolatedWorkers::prometheus,
# each built with -Wall -Wextra -Wpedantic -Werror, run and checked against
# its expected_output.txt. The commands are those of docs/build.md.
source "${TEST_SRCDIR}/${TEST_WORKSPACE}/tests/consumers/consumer_test_lib.sh"
iw_setup

cd "$SRC"
iw_step "configure" cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
iw_step "build" cmake --build build -j"$JOBS"
iw_step "ctest" ctest --test-dir build --output-on-failure --timeout 300
iw_step "install" cmake --install build --prefix "$PREFIX"
if [[ -e "$PREFIX/include/runtime" ]]; then
  echo "FAILED: the install wrote <prefix>/include/runtime"
  exit 1
fi

cd "$SRC/examples/consumer_cmake"
iw_step "consumer_cmake: configure" \
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX"
iw_step "consumer_cmake: build" cmake --build build -j"$JOBS"
iw_step "consumer_cmake: run" iw_run_host build/textstats_host expected_output.txt
# iw_link_system_libraries_statically(textstats_worker), from the installed
# package: no gRPC, protobuf or Abseil shared library left to load.
iw_step "consumer_cmake: static worker" eval '
  if readelf -d build/textstats_worker | grep -E "NEEDED.*(libgrpc|libgpr|libprotobuf|libabsl)"; then
    echo "FAILED: textstats_worker still needs the shared libraries above"
    exit 1
  fi'
# iw_generate()'s dependencies: what textstats.proto imports (ours, and one of
# its IMPORT_DIRS) and the plugin.
iw_step "consumer_cmake: dependencies" eval '
  iw_expect_regenerated "a change to isolated_workers/options.proto" textstats_proto \
    textstats.proto "$PREFIX/include/isolated_workers/isolated_workers/options.proto"
  iw_expect_regenerated "a change to common/sizes.proto (IMPORT_DIRS)" textstats_proto \
    textstats.proto common_protos/common/sizes.proto
  iw_expect_regenerated "a new protoc-gen-iw" textstats_proto \
    textstats.proto "$PREFIX/bin/protoc-gen-iw"'

# The optional exporter (IsolatedWorkers::prometheus; prometheus-cpp-dev is
# installed here): its header and export set are installed, and a consumer
# that asks for the component builds and runs against them. Then, as on a
# machine without prometheus-cpp (find_package disabled): our configure skips
# the target with a status message, and find_package(IsolatedWorkers) still
# works while the component is reported missing.
iw_step "prometheus: installed" eval '
  test -f "$PREFIX/include/isolated_workers/runtime/prometheus/prometheus_exporter.h" &&
  test -f "$PREFIX/lib/cmake/IsolatedWorkers/IsolatedWorkersPrometheusTargets.cmake" ||
  { echo "FAILED: the exporter header or export set is not installed"; exit 1; }'
mkdir -p "$WORK/prom_consumer"
cat >"$WORK/prom_consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(prom_consumer LANGUAGES CXX)
find_package(IsolatedWorkers CONFIG REQUIRED COMPONENTS prometheus)
add_executable(prom_consumer main.cc)
target_compile_options(prom_consumer PRIVATE -Wall -Wextra -Wpedantic -Werror)
target_link_libraries(prom_consumer PRIVATE IsolatedWorkers::prometheus)
CMAKE
cat >"$WORK/prom_consumer/main.cc" <<'CC'
#include <iostream>

#include <prometheus/text_serializer.h>

#include "runtime/prometheus/prometheus_exporter.h"

int main() {
  iw::HostMetrics metrics;
  metrics.service = "demo.Svc";
  iw::MethodMetrics method;
  method.method = "/demo.Svc/Run";
  method.calls_started = 3;
  metrics.methods.push_back(method);
  std::cout << prometheus::TextSerializer().Serialize(iw::ToPrometheusFamilies({{metrics, {}}}));
}
CC
cd "$WORK/prom_consumer"
iw_step "prometheus consumer: configure" \
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX"
iw_step "prometheus consumer: build" cmake --build build -j"$JOBS"
iw_step "prometheus consumer: run" eval '
  build/prom_consumer | grep -Fx "iw_calls_started_total{service=\"demo.Svc\",method=\"Run\"} 3" ||
  { echo "FAILED: prom_consumer did not print the expected series"; exit 1; }'
cd "$SRC"
iw_step "without prometheus-cpp: configure" eval '
  cmake -S . -B build-noprom -DCMAKE_DISABLE_FIND_PACKAGE_prometheus-cpp=TRUE >"$WORK/noprom.log" &&
  grep -F "prometheus-cpp not found: IsolatedWorkers::prometheus is not built" "$WORK/noprom.log" ||
  { cat "$WORK/noprom.log"; echo "FAILED: no skip message without prometheus-cpp"; exit 1; }'
cd "$SRC/examples/consumer_cmake"
iw_step "without prometheus-cpp: find_package(IsolatedWorkers)" eval '
  cmake -S . -B build-noprom -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_DISABLE_FIND_PACKAGE_prometheus-cpp=TRUE >"$WORK/noprom-consumer.log" ||
  { cat "$WORK/noprom-consumer.log"; echo "FAILED: find_package(IsolatedWorkers) needs prometheus-cpp"; exit 1; }'

cd "$SRC/examples/consumer_make"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
iw_step "consumer_make: build" make -j"$JOBS"
iw_step "consumer_make: run" iw_run_host ./wordstats_host expected_output.txt
echo "PASSED"
