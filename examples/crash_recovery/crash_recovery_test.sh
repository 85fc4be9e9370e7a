#!/usr/bin/env bash
# Runs the crash_recovery example and checks what it prints.
set -euo pipefail
host="$1"
export TMPDIR="${TEST_TMPDIR:-/tmp}"
out="$("$host" 2>&1)" || { echo "crash_recovery example failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
id='Jobs#[0-9]+ \(pid [0-9]+\)'
segv='crashed: killed by signal SIGSEGV \(Segmentation fault\)'
# Captured worker stderr, through our log sink.
expect "^  \[worker stderr\] $id: job worker [0-9]+: converting \"report.csv\"$"
expect "^  \[iw warning\] retrying crash_recovery.v1.Jobs.Convert on a fresh worker \(attempt 2 of 3\) after: "
expect "^  \[iw warning\] retrying crash_recovery.v1.Jobs.Convert on a fresh worker \(attempt 3 of 3\) after: "
expect '^Convert\("report.csv", crashes once\) -> OK "converted: report.csv" from pid [0-9]+ \(attempt 1 crashed pid [0-9]+\)$'
expect "^Convert\(\"poison.csv\", crashes always\) -> UNAVAILABLE: crash_recovery.v1.Jobs.Convert: worker $id $segv \(attempt 3 of 3\); last stderr lines:$"
expect '^    job worker [0-9]+: bad input "poison.csv", about to crash$'
expect '^iw::WorkerCrashOf\(status\): cause killed by signal, signal 11, attempt 3 of 3$'
expect '^stats\(\): workers crashed 4, calls completed 1, calls failed 1$'
expect "^Commit\(\"order-17\", crashes once\) -> UNAVAILABLE: crash_recovery.v1.Jobs.Commit: worker $id $segv; last stderr lines:$"
expect '^Commit\("order-17"\) again, the caller.s decision -> OK "committed: order-17" from pid [0-9]+, a fresh worker$'
expect '^state crashed, IsActive\(\) false, pid\(\) 0$'
expect "^Commit\(\"order-19\"\) -> UNAVAILABLE: crash_recovery.v1.Jobs.Commit: worker $id $segv \(RespawnPolicy::kNever\); last stderr lines:$"
expect '^    job worker [0-9]+: bad input "order-18", about to crash$'
expect '^Close\(\) -> OK$'
expect '^crash handling as described$'
echo "crash_recovery example output OK"
