#!/usr/bin/env bash
# Runs the fast-start example and checks what it prints (not how fast: timing
# is measured in bench/, never asserted in a test).
set -euo pipefail
host="$1"
out="$("$host" 2>&1)" || { echo "fast_start example failed:"; echo "$out"; exit 1; }
echo "$out"
expect_count() {
  local n
  n="$(grep -Ec -- "$2" <<<"$out" || true)"
  if [[ "$n" != "$1" ]]; then
    echo "EXPECTED $1 LINE(S), GOT $n: $2"; exit 1
  fi
}
expect_count 3 '^exec:        worker pid [0-9]+: parent the host, lookup table built by itself, on_start ran in itself$'
expect_count 3 '^fork server: worker pid [0-9]+: parent the fork server, lookup table built by the fork server \(once, inherited\), on_start ran in itself$'
expect_count 1 '^spawn -> first reply, median of 10: exec [0-9.]+ ms, fork server [0-9.]+ ms$'
expect_count 0 'UNEXPECTED'
expect_count 1 '^fast start as described$'
echo "fast_start example output OK"
