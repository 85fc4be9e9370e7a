#!/usr/bin/env bash
# This repository as a user builds it with CMake, from a copy of
# //:source_tree: configure, build, CTest, `cmake --install` into a temporary
# prefix; then, against that prefix,
#  - examples/consumer_cmake (find_package(IsolatedWorkers); also checks that
#    iw_generate() regenerates when an import or the plugin changes, and that
#    its worker is linked statically) and
#  - examples/consumer_make (a Makefile: protoc + g++ + pkg-config only),
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

cd "$SRC/examples/consumer_make"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
iw_step "consumer_make: build" make -j"$JOBS"
iw_step "consumer_make: run" iw_run_host ./wordstats_host expected_output.txt
echo "PASSED"
