#!/usr/bin/env bash
# Runs the middleware example and checks what it prints.
set -euo pipefail
host="$1"
out="$("$host" 2>&1)" || { echo "middleware_host failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
expect '^\[OUTGOING\] >>> /greeter.v1.Greeter/Greet \(request [0-9a-f]{16}\)$'
expect '^\[WORKER incoming\] Processing: /greeter.v1.Greeter/Greet \(request [0-9a-f]{16}\)$'
expect '^\[TIMING\] /greeter.v1.Greeter/Greet took [0-9]+ us$'
expect '^\[INCOMING\] <<< /greeter.v1.Greeter/Greet: OK \(handler time reported by the worker\)$'
expect '^greet "  Ada " -> "Hello, Ada! \(via middleware\)"$'
expect '^greet "Amélie" -> "Bonjour, Amélie! \(via middleware\)"$'
expect '^greet "" -> INVALID_ARGUMENT: name is empty$'
expect '^\[INCOMING\] <<< /greeter.v1.Greeter/Greet: INVALID_ARGUMENT: name longer than 20 characters \(refused by the host\) \(worker not reached\)$'
expect '^greet "a name that is far too long" -> INVALID_ARGUMENT: name longer than 20 characters \(refused by the host\)$'
expect '^closed: OK$'
# The worker saw the same request ids as the host.
host_ids="$(grep -Eo '^\[OUTGOING\] .*request [0-9a-f]{16}' <<<"$out" | grep -Eo '[0-9a-f]{16}' | sort)"
worker_ids="$(grep -Eo '^\[WORKER incoming\] .*request [0-9a-f]{16}' <<<"$out" | grep -Eo '[0-9a-f]{16}' | sort)"
# 4 calls on the host, 3 reached the worker (the too-long name did not).
[[ "$(wc -l <<<"$host_ids")" == 4 && "$(wc -l <<<"$worker_ids")" == 3 ]] || { echo "BAD ID COUNT"; exit 1; }
[[ -z "$(comm -13 <(echo "$host_ids") <(echo "$worker_ids"))" ]] || { echo "WORKER ID NOT SENT BY HOST"; exit 1; }
echo "middleware example output OK"
