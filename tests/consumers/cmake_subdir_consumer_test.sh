#!/usr/bin/env bash
# examples/consumer_cmake_subdir, from a copy of //:source_tree: a CMake
# project that builds this repository with add_subdirectory() (plugin built
# in-tree, no install), built with -Wall -Wextra -Wpedantic -Werror on its own
# and the generated code, run and checked against its expected_output.txt;
# then a change to the plugin's sources must regenerate the code.
source "${TEST_SRCDIR}/${TEST_WORKSPACE}/tests/consumers/consumer_test_lib.sh"
iw_setup

cd "$SRC/examples/consumer_cmake_subdir"
iw_step "consumer_cmake_subdir: configure" cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
if [[ -e build/isolated_workers/CTestTestfile.cmake ]]; then
  echo "FAILED: IW_BUILD_TESTS is on under add_subdirectory()"
  exit 1
fi
iw_step "consumer_cmake_subdir: build" cmake --build build -j"$JOBS"
iw_step "consumer_cmake_subdir: run" iw_run_host build/linestats_host expected_output.txt
# With the plugin built in the same build, a change to its sources rebuilds it
# and then regenerates the code.
iw_step "consumer_cmake_subdir: dependencies" \
  iw_expect_regenerated "a change to the plugin's sources" linestats_proto \
  linestats.proto "$SRC/codegen/names.cc"
echo "PASSED"
