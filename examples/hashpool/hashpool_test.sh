#!/usr/bin/env bash
# Runs the hashpool example on a small generated tree and checks what it prints.
set -euo pipefail
host="$1"
export TMPDIR="${TEST_TMPDIR:-/tmp}"
out="$("$host" --files=40 --max-size=256k 2>&1)" || {
  echo "hashpool failed:"; echo "$out"; exit 1;
}
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
expect '^generated 40 files \([0-9.]+ MiB\) under .*/hashpool-[A-Za-z0-9]+ in [0-9.]+ s, one of them poison.bin$'
expect '^started a pool of [0-9]+ worker processes in [0-9]+ ms \([0-9]+ CPUs\)$'
expect '^progress: 40/40 files \(100%\)$'
expect '^processed 40 files: 39 ok, 1 failed$'
# The worker took poison.bin (its first progress message said so), then
# crashed: the stream ends with the crash report and how far it got.
expect '^failed: .*/poison.bin: UNAVAILABLE: hashpool.v1.Hasher.AnalyzeWithProgress: worker Hasher#[0-9]+ \(pid [0-9]+\) crashed: killed by signal SIGABRT \(Aborted\) \(after ([0-9]+ responses of the stream were|1 response of the stream was) delivered\); last stderr lines:$'
expect '^    decoder: corrupt block header in .*/poison.bin; aborting$'
# Each file streamed a message at the start, one per 256 KiB chunk, then its
# result; the host shows what each worker process did.
expect '^streamed [0-9]+ progress messages for 40 files$'
expect '^worker pid [0-9]+: [0-9]+ files, [0-9.]+ MiB$'
expect '^worker pid [0-9]+: [0-9]+ files, [0-9.]+ MiB, then crashed on .*/poison.bin$'
expect '^pool: [0-9.]+ s wall for [0-9.]+ MiB \([0-9.]+ MiB/s\), results from [0-9]+ worker processes; compressed to [0-9.]+% of the size$'
expect '^inline: [0-9.]+ s wall for the same 39 files, single-threaded in the host$'
expect '^speed-up over inline: [0-9.]+x with [0-9]+ workers$'
expect '^pool and inline results agree for all 39 files$'
expect '^pool: workers spawned: [0-9]+, workers crashed: 1, calls completed: 39, calls failed: 1$'
expect '^closed the pool: OK$'
# The sample tree is deleted afterwards.
if compgen -G "$TMPDIR/hashpool-*" >/dev/null; then
  echo "sample tree left behind: $(compgen -G "$TMPDIR/hashpool-*")"; exit 1
fi
echo "hashpool example output OK"
