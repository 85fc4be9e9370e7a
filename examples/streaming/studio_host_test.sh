#!/usr/bin/env bash
# Runs the streaming example and checks every line it prints.
#   studio_host_test.sh HOST native|grpc
set -euo pipefail
host="$1"
carrier="$2"
flags=()
if [[ "$carrier" == grpc ]]; then flags=(--grpc); fi
out="$("$host" "${flags[@]}" 2>&1)" || { echo "studio_host failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
if [[ "$carrier" == grpc ]]; then
  expect '^spawned worker Studio#1 \(pid [0-9]+\), gRPC carrier$'
else
  expect '^spawned worker Studio#1 \(pid [0-9]+\), native carrier$'
fi
# Server streaming, a range-for: one message per row, the picture with the last.
expect '^render 60x20 \(range-for\): 20 progress messages, 5% \.\. 100%$'
picture_rows="$(grep -Ec '^  \|[ .+#]{60}\|$' <<<"$out" || true)"
if [[ "$picture_rows" != 20 ]]; then
  echo "MISSING: the 20 rows of the picture (found $picture_rows)"; exit 1
fi
expect '^render: OK, [0-9]+ of 1200 points inside the set$'
expect '^render 60x20 \(async\): 20 progress messages on a framework thread, up to 100%, then done: OK$'
# Client streaming.
expect '^upload: 16 chunks of 64 KiB sent; the worker got 16 chunks, 1048576 bytes, fnv1a [0-9a-f]{16}: matches the host.s$'
# Bidirectional.
expect '^translate: "the quick brown fox" -> "ethay uickqay ownbray oxfay"$'
expect '^translate: "jumps over" -> "umpsjay overway"$'
expect '^translate: "isolated workers stream" -> "isolatedway orkersway eamstray"$'
expect '^translate: after the host.s half-close: "\(3 lines, 9 words\)"$'
expect '^translate: OK$'
# Cancellation reaches the handler.
expect '^cancel: read 3 of 2000 rows, then Cancel\(\) -> CANCELLED: streaming\.v1\.Studio\.Render: cancelled by the host$'
expect '^cancel: the handler.s Write\(\) returned false after [0-9]+ rows; it stopped$'
# The deadline bounds the whole stream.
expect '^deadline: [0-9]+ of 2000 rows read, then after [0-9]+\.[0-9] s: DEADLINE_EXCEEDED: streaming\.v1\.Studio\.Render: deadline exceeded after 300ms \(timeout from CallOptions::timeout\)$'
expect '^closed worker: OK \(state closed\)$'
# No line unaccounted for.
lines="$(wc -l <<<"$out")"
if [[ "$lines" != 34 ]]; then
  echo "expected 34 lines, got $lines"; exit 1
fi
echo "streaming example output OK"
