#!/usr/bin/env bash
# //tests/style:format_test: tools/format.sh --check over the C++ sources in
# this test's runfiles (//:format_inputs). On failure the log lists the
# unformatted files; run tools/format.sh to format them.
set -euo pipefail

root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
format="$root/tools/format.sh"

# First, that the check can fail: a badly formatted file in a scratch tree
# with the same .clang-format must be reported.
scratch="${TEST_TMPDIR:?}/canary"
mkdir -p "$scratch"
cp "$root/.clang-format" "$scratch/.clang-format"
printf 'int  main( ) {return 0;}\n' >"$scratch/canary.cc"
status=0
listed="$("$format" --check --root="$scratch" 2>/dev/null)" || status=$?
if [[ "$status" != 1 || "$listed" != canary.cc ]]; then
  echo "format_test: tools/format.sh --check did not report a badly formatted file" \
    "(exit $status, output: '$listed')" >&2
  exit 1
fi

# The sources.
"$format" --check --root="$root"
