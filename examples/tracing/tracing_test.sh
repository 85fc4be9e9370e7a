#!/usr/bin/env bash
# Runs the tracing example and checks what it prints.
set -euo pipefail
host="$1"
out="$("$host" 2>&1)" || { echo "tracing_host failed:"; echo "$out"; exit 1; }
echo "$out"
expect() {
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "MISSING: $1"; exit 1
  fi
}
t1=4bf92f3577b34da6a3ce929d0e0e4736
t2=0af7651916cd43dd8448eb211c80319c
expect "^\[client span\] /inventory.v1.Inventory/Lookup trace=$t1 parent=00f067aa0ba902b7 -> b7ad6b7169203331 \(request [0-9a-f]{16}\)$"
expect "^\[worker\] trace=$t1 parent=b7ad6b7169203331 request=[0-9a-f]{16} span start /inventory.v1.Inventory/Lookup sampled=yes$"
expect "^\[worker\] trace=$t1 parent=b7ad6b7169203331 request=[0-9a-f]{16} looking up apples$"
expect "^\[worker\] trace=$t1 parent=b7ad6b7169203331 request=[0-9a-f]{16} span end OK$"
expect '^lookup "apples" -> 42 in stock$'
expect "^\[client span\] /inventory.v1.Inventory/Lookup trace=$t2 parent=0102030405060708 -> b7ad6b7169203331"
expect "^\[worker\] trace=$t2 parent=b7ad6b7169203331 request=[0-9a-f]{16} span start /inventory.v1.Inventory/Lookup sampled=no$"
expect "^\[worker\] trace=$t2 parent=b7ad6b7169203331 request=[0-9a-f]{16} looking up pears$"
expect "^\[worker\] trace=$t2 parent=b7ad6b7169203331 request=[0-9a-f]{16} span end INVALID_ARGUMENT: empty sku$"
expect '^lookup "" -> INVALID_ARGUMENT: empty sku$'
expect "^\[worker\] trace=- parent=- request=[0-9a-f]{16} looking up plums$"
expect '^lookup "figs" -> INVALID_ARGUMENT: inventory.v1.Inventory.Lookup: CallOptions::trace: traceparent: trace id is all zeros$'
expect '^closed: OK$'
# The host's request id of the apples call is the one the worker logged.
id="$(grep -Eo "^\[client span\] .*trace=$t1 .*request [0-9a-f]{16}" <<<"$out" | grep -Eo '[0-9a-f]{16}\)?$' | tr -d ')')"
grep -q "request=$id looking up apples" <<<"$out" || { echo "REQUEST ID NOT SEEN BY THE WORKER"; exit 1; }
# The figs call never reached the worker.
if grep -q "looking up figs" <<<"$out"; then echo "INVALID CALL REACHED THE WORKER"; exit 1; fi
echo "tracing example output OK"
