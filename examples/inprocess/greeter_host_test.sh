#!/usr/bin/env bash
# Runs the in-process example and checks that both modes print the same
# results (only the worker id and where the handler ran differ).
set -euo pipefail
host="$1"
out="$("$host" 2>&1)" || { echo "greeter_host failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
expect '^\[spawned\] worker Greeter#[0-9]+ \(pid [0-9]+\), host pid [0-9]+$'
expect '^\[in-process\] worker Greeter#[0-9]+ \(in-process\), host pid [0-9]+$'
expect '^\[spawned\] greet "world" -> "hello, world" \(handler ran in another process\)$'
expect '^\[in-process\] greet "world" -> "hello, world" \(handler ran in the host process\)$'
for mode in spawned in-process; do
  expect "^\[$mode\] 100 concurrent greetings: 100 answered correctly$"
  expect "^\[$mode\] 200 ms of work with a 20 ms timeout -> DEADLINE_EXCEEDED: greeter.v1.Greeter.Work: deadline exceeded after 20ms \(timeout from CallOptions::timeout\)$"
  expect "^\[$mode\] closed: OK$"
done
echo "in-process example output OK"
