#!/usr/bin/env bash
# iw_cc_fuzz_test must find a bug in a user's handler: the fuzz target of
# BuggyBlobHandler (a planted abort) must fail, through the unary path and
# through call-stream batches, while the same target with the bug out of
# reach (corpus replay only) passes.
set -uo pipefail
fuzzer="$1"
unary_seed="$2"
stream_seed="$3"

# Replaying the seeds alone reaches the handler and is clean.
if ! out="$("$fuzzer" --iterations=0 "$unary_seed" "$stream_seed" 2>&1)"; then
  echo "corpus replay failed:"; echo "$out"; exit 1
fi

for seed in "$unary_seed" "$stream_seed"; do
  out="$(timeout 120 "$fuzzer" --iterations=20000 --max_seconds=60 "$seed" 2>&1)"
  code=$?
  if [[ $code -eq 0 ]]; then
    echo "the fuzzer did not find the planted bug from $seed:"; echo "$out" | tail -5; exit 1
  fi
  if ! grep -q "planted bug: high bit in the first byte" <<<"$out"; then
    echo "the fuzzer failed (exit $code) for another reason from $seed:"; echo "$out" | tail -20; exit 1
  fi
  echo "found from $(basename "$seed") (exit $code)"
done
echo "OK"
