# Shared by the consumer tests of this package (sourced, not run).
#
# iw_setup copies //:source_tree (this test's runfiles; symlinks, hence
# cp -L) into a fresh short directory under /tmp, removed on exit, and leaves
# an environment like a user's shell (no Bazel test variables, which our own
# tests would otherwise follow into this test's runfiles).

set -euo pipefail

JOBS=2
WORK=""

iw_cleanup() {
  if [[ -n "$WORK" ]]; then
    rm -rf "$WORK"
  fi
}

iw_setup() {
  WORK="$(mktemp -d /tmp/iwc.XXXXXX)"
  trap iw_cleanup EXIT
  trap 'exit 143' TERM INT
  SRC="$WORK/src"
  PREFIX="$WORK/prefix"
  mkdir "$SRC"
  iw_step "copy //:source_tree" cp -rL "$TEST_SRCDIR/$TEST_WORKSPACE/." "$SRC/"
  chmod -R u+w "$SRC"
  unset TEST_SRCDIR TEST_WORKSPACE RUNFILES_DIR RUNFILES_MANIFEST_FILE \
    JAVA_RUNFILES PYTHON_RUNFILES
  export TMPDIR="$WORK"
}

# iw_step NAME COMMAND...: runs COMMAND, prints how long it took.
iw_step() {
  local name="$1"
  shift
  local start end
  echo "=== ${name}"
  start="$(date +%s.%N)"
  "$@"
  end="$(date +%s.%N)"
  awk -v n="$name" -v s="$start" -v e="$end" 'BEGIN { printf "[timing] %s: %.1f s\n", n, e - s }'
}

# iw_run_host HOST EXPECTED: runs a consumer's host (deadline: 120 s), checks
# its stdout line by line against EXPECTED and that no process of this
# test's directory is left.
iw_run_host() {
  local host="$1" expected="$2"
  local out="$WORK/host.out" err="$WORK/host.err"
  local rc=0
  timeout 120 "$host" >"$out" 2>"$err" || rc=$?
  cat "$out"
  if ((rc != 0)) || ! diff -u "$expected" "$out"; then
    echo "FAILED: $host (exit code $rc); expected output:"
    cat "$expected"
    echo "--- its stderr:"
    cat "$err"
    exit 1
  fi
  if pgrep -f "$WORK" >/dev/null; then
    echo "FAILED: processes left behind:"
    pgrep -af "$WORK"
    exit 1
  fi
  echo "output of $(basename "$host") OK"
}

# iw_expect_regenerated DESCRIPTION TARGET PROTO FILE: after touching FILE,
# building TARGET (in ./build) runs protoc on PROTO again, and a build right
# after that does not.
iw_expect_regenerated() {
  local description="$1" target="$2" proto="$3" file="$4" out
  touch "$file"
  out="$(cmake --build build --target "$target" -j"$JOBS")"
  if ! grep -qF "Generating C++ code for ${proto} " <<<"$out"; then
    echo "FAILED: ${description} did not regenerate the code of ${proto}:"
    echo "$out"
    exit 1
  fi
  out="$(cmake --build build --target "$target" -j"$JOBS")"
  if grep -qF "Generating C++ code for" <<<"$out"; then
    echo "FAILED: a build with nothing changed ran protoc again:"
    echo "$out"
    exit 1
  fi
  echo "regenerated after: ${description}"
}
