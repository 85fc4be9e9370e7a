#!/usr/bin/env bash
# Runs the timeouts example and checks what it prints.
set -euo pipefail
host="$1"
unset IW_TIMEOUT_SCALE
out="$("$host" 2>&1)" || { echo "timeouts example failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
ms='\(returned after [0-9]+ ms\)'
expect "^\(iw.service\).default_timeout_ms: +Nap +-> DEADLINE_EXCEEDED: timeouts.v1.Sleeper.Nap: deadline exceeded after 400ms \(timeout from \(iw.service\).default_timeout_ms\) $ms$"
expect "^\(iw.method\).timeout_ms: +QuickNap -> DEADLINE_EXCEEDED: timeouts.v1.Sleeper.QuickNap: deadline exceeded after 150ms \(timeout from \(iw.method\).timeout_ms\) $ms$"
expect "^WorkerOptions::call_timeout: +QuickNap -> DEADLINE_EXCEEDED: timeouts.v1.Sleeper.QuickNap: deadline exceeded after 250ms \(timeout from WorkerOptions::call_timeout\) $ms$"
expect "^SleeperMethodConfig::nap.timeout: +Nap +-> DEADLINE_EXCEEDED: timeouts.v1.Sleeper.Nap: deadline exceeded after 200ms \(timeout from the host's MethodConfig for Nap\) $ms$"
expect "^CallOptions::timeout: +Nap +-> DEADLINE_EXCEEDED: timeouts.v1.Sleeper.Nap: deadline exceeded after 100ms \(timeout from CallOptions::timeout\) $ms$"
expect '^a call with a 2 s timeout: the handler saw its deadline [0-9]+ ms away$'
expect '^an async Nap\(10000 ms\) cancelled after 200 ms -> CANCELLED: timeouts.v1.Sleeper.Nap: cancelled by the host \(after [0-9]+ ms\)$'
expect '^  the worker noticed: Nap\(10000 ms\): stopped early, IsCancelled\(\) was true$'
expect '^Nap\(300 ms\) ignoring its 100 ms timeout -> DEADLINE_EXCEEDED: timeouts.v1.Sleeper.Nap: deadline exceeded after 100ms \(timeout from CallOptions::timeout\) \(after [0-9]+ ms\)$'
expect '^  the worker noticed: Nap\(300 ms\): finished the whole nap after the host gave up; its reply is dropped$'
expect "^Crunch, ignoring its deadline: +Crunch +-> DEADLINE_EXCEEDED: timeouts.v1.Sleeper.Crunch: deadline exceeded after 300ms \(timeout from \(iw.method\).timeout_ms\) $ms$"
expect '^the bystander Nap on the same worker -> UNAVAILABLE: timeouts.v1.Sleeper.Nap: worker Sleeper#[0-9]+ \(pid [0-9]+\) exited: the handler of /timeouts.v1.Sleeper/Crunch was still running 200ms after its deadline \(DEADLINE_REPLACE_WORKER\); the worker was replaced \(after [0-9]+ ms\)$'
expect '^the next call -> OK on a fresh worker \(pid [0-9]+, was [0-9]+\)$'
expect "^\(iw.service\).startup_timeout_ms -> DEADLINE_EXCEEDED: spawn worker Sleeper#[0-9]+ \(pid [0-9]+\) \(.*/timeouts_worker\): not ready within 1s \(startup timeout from \(iw.service\).startup_timeout_ms\); it was still running and has been killed $ms$"
expect "^WorkerOptions::startup_timeout -> DEADLINE_EXCEEDED: spawn worker Sleeper#[0-9]+ \(pid [0-9]+\) \(.*/timeouts_worker\): not ready within 200ms \(startup timeout from WorkerOptions::startup_timeout\); it was still running and has been killed $ms$"
expect "^IW_TIMEOUT_SCALE=3: +QuickNap -> DEADLINE_EXCEEDED: timeouts.v1.Sleeper.QuickNap: deadline exceeded after 450ms \(timeout from \(iw.method\).timeout_ms x3 \(\\\$IW_TIMEOUT_SCALE\)\) $ms$"
expect "^IW_TIMEOUT_SCALE=3: startup -> DEADLINE_EXCEEDED: .*not ready within 300ms \(startup timeout from WorkerOptions::startup_timeout x3 \(\\\$IW_TIMEOUT_SCALE\)\); it was still running and has been killed $ms$"
expect '^all timeouts behaved as described$'
echo "timeouts example output OK"
