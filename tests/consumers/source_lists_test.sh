#!/usr/bin/env bash
# cmake/IwCheckSourceLists.cmake (run by every CMake configure) accepts the
# real tree, and fails naming the file when a .cc/.h of runtime/ or codegen/
# is in one build and not the other.
set -euo pipefail
src="${TEST_SRCDIR}/${TEST_WORKSPACE}"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/lists.XXXXXX")"
trap 'rm -rf "$work"' EXIT

fresh_copy() {
  rm -rf "$work/tree"
  mkdir -p "$work/tree/runtime" "$work/tree/codegen"
  cp -rL "$src/cmake" "$work/tree/"
  cp -L "$src/runtime/BUILD.bazel" "$work/tree/runtime/"
  cp -L "$src/codegen/BUILD.bazel" "$work/tree/codegen/"
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
sed -i 's|^  runtime/worker.cc$|&\n  runtime/only_in_cmake.cc|' "$work/tree/cmake/IwSources.cmake"
expect_failure "runtime/only_in_cmake.cc is in cmake/IwSources.cmake but not in runtime/BUILD.bazel"

# A runtime file only in Bazel (as when someone adds one to the BUILD file).
fresh_copy
sed -i 's|^\( *\)"worker.cc",$|&\n\1"internal/only_in_bazel.cc",|' "$work/tree/runtime/BUILD.bazel"
expect_failure "runtime/internal/only_in_bazel.cc is in runtime/BUILD.bazel but not in cmake/IwSources.cmake"

# A codegen file dropped from the Bazel build.
fresh_copy
sed -i '/"names.cc",/d' "$work/tree/codegen/BUILD.bazel"
expect_failure "codegen/names.cc is in cmake/IwSources.cmake but not in codegen/BUILD.bazel"
echo "PASSED"
