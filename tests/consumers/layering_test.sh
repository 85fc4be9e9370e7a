#!/usr/bin/env bash
# The runtime's layers are enforced by Bazel: in a copy of the declared source
# tree, adding a dependency that breaks the layering (the worker side on the
# host side, the wire on the worker, codegen_support on the host, generated
# code on an internal layer) fails analysis with a visibility error naming
# both targets, and the unmodified tree analyses cleanly.
#
# A nested Bazel in batch mode, analysis only (--nobuild), with its own output
# base under a short /tmp directory.
set -euo pipefail

src="${TEST_SRCDIR}/${TEST_WORKSPACE}"
work="$(mktemp -d /tmp/iw-layering.XXXXXX)"
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

home="$(getent passwd "$(id -u)" | cut -d: -f6)"
nested_bazel() {
  (cd "$work/tree" && env -i PATH=/usr/bin:/bin HOME="$home" \
    bazel --batch --output_user_root="$work/root" --output_base="$work/out" "$@" \
    --noshow_progress)
}

cp -rL "$src/." "$work/tree"
chmod -R u+w "$work/tree"
# A package of a user's own, next to ours: it may use the public runtime and
# codegen_support, and nothing else.
mkdir -p "$work/tree/user"
cat >"$work/tree/user/BUILD.bazel" <<'BUILD'
cc_library(
    name = "user_code",
    deps = [
        "//runtime",
        "//runtime:codegen_support",
    ],
)
BUILD
readonly TARGETS=(//runtime/... //user:user_code)

if ! nested_bazel build --nobuild "${TARGETS[@]}" >"$work/clean.log" 2>&1; then
  echo "FAIL: the unmodified tree does not analyse:"; tail -40 "$work/clean.log"; exit 1
fi
echo "unmodified tree: analyses"

# expect_rejected BUILD_FILE AFTER_LINE NEW_DEP FROM TO [ALSO]: adding NEW_DEP
# after the line AFTER_LINE of BUILD_FILE fails with "TO is not visible from
# FROM" (or with the error ALSO, an extended regular expression).
expect_rejected() {
  local build="$1" after="$2" dep="$3" from="$4" to="$5" also="${6:-}"
  cp "$work/tree/$build" "$work/saved"
  grep -qF -- "$after" "$work/tree/$build" || { echo "FAIL: no line '$after' in $build"; exit 1; }
  awk -v after="$after" -v dep="$dep" \
    '{ print } !done && index($0, after) { print "        \"" dep "\","; done = 1 }' \
    "$work/saved" >"$work/tree/$build"
  if nested_bazel build --nobuild "${TARGETS[@]}" >"$work/bad.log" 2>&1; then
    echo "FAIL: Bazel accepted $from depending on $dep"; exit 1
  fi
  local expected="target '$to' is not visible from target '$from'"
  [[ -z "$also" ]] || expected="($expected|$also)"
  if ! grep -Eq "$expected" "$work/bad.log"; then
    echo "FAIL: no visibility error for $from -> $to:"; grep -E "ERROR" "$work/bad.log" | head; exit 1
  fi
  echo "rejected: $from -> $to"
  cp "$work/saved" "$work/tree/$build"
}

# Upwards: the lower layer is a dependency of the upper one already, so
# Bazel reports the cycle (a visibility error if it ever were not).
readonly CYCLE="cycle in dependency graph"
expect_rejected runtime/worker/BUILD.bazel '"//runtime/common",' //runtime/host \
  //runtime/worker:worker //runtime/host:host "$CYCLE"
expect_rejected runtime/wire/BUILD.bazel '"//runtime/common",' //runtime/worker \
  //runtime/wire:wire //runtime/worker:worker "$CYCLE"
expect_rejected runtime/codegen_support/BUILD.bazel '"//runtime:api",' //runtime/host \
  //runtime/codegen_support:codegen_support //runtime/host:host "$CYCLE"
# Sideways: layers that must not know each other.
expect_rejected runtime/process/BUILD.bazel '"//runtime:api",' //runtime/wire \
  //runtime/process:process //runtime/wire:wire
expect_rejected runtime/common/BUILD.bazel '"//runtime:api",' //runtime/process \
  //runtime/common:common //runtime/process:process
# From outside: a user's (or generated) library reaches no internal layer.
for layer in common wire worker host; do
  expect_rejected user/BUILD.bazel '"//runtime",' "//runtime/$layer" \
    //user:user_code "//runtime/$layer:$layer"
done
echo "layering OK"
