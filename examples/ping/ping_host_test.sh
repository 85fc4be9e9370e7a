#!/usr/bin/env bash
# Runs the ping example and checks what it prints.
set -euo pipefail
host="$1"
out="$("$host" 2>&1)" || { echo "ping_host failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
expect '^spawned worker Pinger#1 \(pid [0-9]+\) in [0-9.]+ ms$'
expect '^native carrier: 1 of 1 workers$'
expect '^ping "hello" -> "pong: hello" from pid [0-9]+ \(host pid [0-9]+\) in [0-9]+ us$'
expect '^echo 1 MiB -> 1048576 bytes back intact in [0-9.]+ ms$'
expect '^1000 concurrent pings: 1000 answered correctly in [0-9.]+ ms \([0-9]+ calls/s\)$'
expect '^200 ms of work with a 20 ms timeout -> DEADLINE_EXCEEDED: ping.v1.Pinger.Work: deadline exceeded after 20ms \(timeout from CallOptions::timeout\)$'
expect '^closed worker: OK \(state closed\)$'
echo "ping example output OK"
