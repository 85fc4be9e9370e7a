#!/usr/bin/env bash
# Builds and runs examples/consumer_bazel, a Bazel workspace of its own that
# uses this repository as `@isolated_workers` exactly as docs/build.md says,
# with a nested Bazel over a copy of the declared source tree.
#
# The nested Bazel runs in batch mode (no server is left behind), with its own
# output base under a short /tmp directory, and shares the developer's disk
# cache (~/.cache/isolated-workers/bazel-disk) so that only the first run on a
# machine pays the cold build.
set -euo pipefail

src="${TEST_SRCDIR}/${TEST_WORKSPACE}"
work="$(mktemp -d /tmp/iw-consumer-bazel.XXXXXX)"
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The test environment (TEST_TMPDIR in particular) changes Bazel's defaults:
# run the nested Bazel with a clean one.
home="$(getent passwd "$(id -u)" | cut -d: -f6)"
nested_bazel() {
  env -i PATH=/usr/bin:/bin HOME="$home" \
    bazel --batch --output_user_root="$work/root" --output_base="$work/out" "$@" \
    --disk_cache="$home/.cache/isolated-workers/bazel-disk" --noshow_progress
}

# Only the declared files: a file the consumer build needs but //:source_tree
# does not list fails this test, as it would fail a user.
cp -rL "$src/." "$work/tree"
consumer="$work/tree/examples/consumer_bazel"
cd "$consumer"

start=$SECONDS
if ! nested_bazel build //textstats:textstats_host >"$work/build.log" 2>&1; then
  echo "FAIL: the consumer workspace does not build:"; tail -50 "$work/build.log"; exit 1
fi
echo "consumer build: $((SECONDS - start)) s"

out="$(./bazel-bin/textstats/textstats_host 2>&1)" || { echo "FAIL: host failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  grep -Eq -- "$1" <<<"$out" || { echo "FAIL: missing line: $1"; exit 1; }
}
expect '^words=5 lines=2 bytes=24 in another process: yes$'
expect '^slow call: DEADLINE_EXCEEDED: textstats.v1.TextStats.Count: deadline exceeded after 500ms \(timeout from \(iw.method\).timeout_ms\)$'
expect '^close: OK$'

# The consumer's own test (bazel test needs the offline @remote_coverage_tools).
if ! nested_bazel test --test_output=errors //textstats:textstats_test >"$work/test.log" 2>&1; then
  echo "FAIL: the consumer's own test:"; tail -30 "$work/test.log"; exit 1
fi
grep -q '^//textstats:textstats_test .*PASSED' "$work/test.log" ||
  { echo "FAIL: textstats_test did not pass:"; tail -30 "$work/test.log"; exit 1; }
echo "consumer's own bazel test: PASSED"

# Without C++17 for the consumer's own code, the first error says what to do.
if nested_bazel build --cxxopt=-std=c++14 //textstats:textstats_host >"$work/cxx14.log" 2>&1; then
  echo "FAIL: the consumer built its own code as C++14"; exit 1
fi
grep -q 'error: #error "isolated-workers needs C++17 or later. Bazel: add .build --cxxopt=-std=c++17 --host_cxxopt=-std=c++17. to your .bazelrc' "$work/cxx14.log" ||
  { echo "FAIL: no clear C++17 message:"; tail -30 "$work/cxx14.log"; exit 1; }
echo "without C++17: the clear #error message"
echo "consumer_bazel OK"
