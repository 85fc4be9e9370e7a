#!/usr/bin/env bash
# Runs the error-handling example and checks what it prints.
set -euo pipefail
host="$1"
out="$("$host" 2>&1)" || { echo "errors_host failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
expect '^divide 10/2 -> 5$'
expect '^divide 1/0 -> INVALID_ARGUMENT: division by zero$'
expect '^  detail FieldViolation: field "divisor": must not be zero$'
expect '^explode -> INTERNAL: handler for /errors.v1.Calculator/Explode threw std::runtime_error: kaboom$'
expect '^divide 9/3 -> 3$'
expect '^worker still serving after the exception: yes, same process$'
expect '^closed: OK$'
echo "errors example output OK"
