#!/usr/bin/env bash
# The two copies of test_service.proto used by schema_check_test differ from
# the original only where they mean to (EchoRequest.text renamed / retyped, one
# comment edited, their header comment): when test_service.proto grows, they
# must grow with it, or the "wire-compatible copy is accepted" case tests a
# copy that is no longer wire-compatible.
set -euo pipefail
dir="${TEST_SRCDIR}/${TEST_WORKSPACE}/tests/workers"
fail=0
check() {  # copy, sed script that turns the original into the copy's body
  local copy="$1" script="$2"
  if ! diff <(sed -e "$script" "$dir/test_service.proto") \
            <(sed -e '1,/^$/{/^\/\/ A copy of/,/^\/\/ .*this worker\.$/d}' "$dir/$copy"); then
    echo "FAIL: $copy is out of step with test_service.proto (see the diff above)"
    fail=1
  fi
}
check schema_renamed/test_service.proto \
  '/^message EchoRequest {$/{n;s|^  string text = 1;$|  // Renamed (it is `text` in tests/workers/test_service.proto): the name is\n  // not on the wire.\n  string message = 1;|}; s|^  // Echoes the request\.$|  // Echoes the request back (comment edited).|'
check schema_changed/test_service.proto \
  '/^message EchoRequest {$/{n;s|^  string text = 1;$|  // Changed type: string in tests/workers/test_service.proto.\n  int64 text = 1;|}'
[[ $fail == 0 ]] && echo "schema copies in step with test_service.proto"
exit $fail
