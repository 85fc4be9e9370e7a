#!/usr/bin/env bash
# cmake/IwCheckSourceLists.cmake (run by every CMake configure) accepts the
# real tree, and fails naming the file when a .cc/.h of runtime/ or codegen/
# is in one build and not the other.
set -euo pipefail
src="${TEST_SRCDIR}/${TEST_WORKSPACE}"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/lists.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The packages whose BUILD files the check compares (IW_SOURCE_PACKAGES).
readonly PACKAGES=(runtime runtime/codegen_support runtime/common runtime/wire
  runtime/process runtime/transport runtime/worker runtime/host runtime/prometheus codegen)

fresh_copy() {
  rm -rf "$work/tree"
  mkdir -p "$work/tree"
  cp -rL "$src/cmake" "$work/tree/"
  for package in "${PACKAGES[@]}"; do
    mkdir -p "$work/tree/$package"
    cp -L "$src/$package/BUILD.bazel" "$work/tree/$package/"
  done
  chmod -R u+w "$work/tree"
}

check() {
  cmake -DIW_SOURCE_DIR="$work/tree" -P "$work/tree/cmake/IwCheckSourceLists.cmake" \
    >"$work/out" 2>&1
}

# expect_failure WHAT: the check fails and its message contains WHAT.
expect_failure() {
  if check; then
    echo "FAILED: the check accepted a tree where $1"
    exit 1
  fi
  if ! grep -qF -- "$1" "$work/out"; then
    echo "FAILED: the check's message does not say: $1"
    cat "$work/out"
    exit 1
  fi
  echo "rejected: $1"
}

fresh_copy
check || { cat "$work/out"; echo "FAILED: the real tree is rejected"; exit 1; }
echo "the real tree passes"

# A runtime file only in CMake.
fresh_copy
sed -i 's|^  runtime/worker/serve.cc$|&\n  runtime/worker/only_in_cmake.cc|' "$work/tree/cmake/IwSources.cmake"
expect_failure "runtime/worker/only_in_cmake.cc is in cmake/IwSources.cmake but not in runtime/worker/BUILD.bazel"

# A runtime file only in Bazel (as when someone adds one to a BUILD file).
fresh_copy
sed -i 's|^\( *\)"spawn.cc",$|&\n\1"only_in_bazel.cc",|' "$work/tree/runtime/host/BUILD.bazel"
expect_failure "runtime/host/only_in_bazel.cc is in runtime/host/BUILD.bazel but not in cmake/IwSources.cmake"

# A file in a package's folder, but listed in another package's BUILD file.
fresh_copy
sed -i 's|^\( *\)"host.cc",$|&\n\1"host/misplaced.cc",|' "$work/tree/runtime/BUILD.bazel"
expect_failure "runtime/host/misplaced.cc is in runtime/BUILD.bazel but not in cmake/IwSources.cmake"

# A codegen file dropped from the Bazel build.
fresh_copy
sed -i '/"names.cc",/d' "$work/tree/codegen/BUILD.bazel"
expect_failure "codegen/names.cc is in cmake/IwSources.cmake but not in codegen/BUILD.bazel"
echo "PASSED"
