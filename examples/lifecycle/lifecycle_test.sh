#!/usr/bin/env bash
# Runs the lifecycle example and checks what it prints.
set -euo pipefail
host="$1"
out="$("$host" 2>&1)" || { echo "lifecycle example failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
id='Counter#[0-9]+ \(pid [0-9]+\)'
expect "^  \[on_state_change\] $id: ready$"
expect "^after Spawn\(\): state ready, IsActive\(\) true, pid\(\) [1-9][0-9]*, worker_id\(\) \"$id\"$"
expect '^Add\(1\) -> total 1, call #1 served by pid [0-9]+$'
expect '^Add\(10\) -> total 11, call #2 served by pid [0-9]+$'
expect '^Add\(100\) -> total 111, call #3 served by pid [0-9]+$'
expect '^stats\(\): workers 1 \(busy 0, idle 1\), calls completed 3, failed 0, workers spawned 1, crashed 0$'
expect "^  \[on_state_change\] $id: closing$"
expect "^  \[on_state_change\] $id: closed$"
expect '^Close\(grace 2s, term_timeout 1s\) -> OK '
expect "^after Close\(\): state closed, IsActive\(\) false, pid\(\) 0, worker_id\(\) \"$id\"$"
expect "^Add\(\) after Close\(\) -> FAILED_PRECONDITION: lifecycle.v1.Counter.Add: host of $id is closed$"
expect '^Close\(\) again -> OK \(idempotent\)$'
expect '^Add\(1\) -> total 1, served by pid [0-9]+ \(a new process, new state\)$'
expect "sending SIGTERM$"
expect "sending SIGKILL$"
expect "^Close\(grace 200ms, term_timeout 200ms\) -> DEADLINE_EXCEEDED: close $id: the worker did not exit within its grace period \(200ms\) nor after SIGTERM \(200ms\); killed with SIGKILL \(after [0-9]+ ms\)$"
expect '^lifecycle as described$'
echo "lifecycle example output OK"
