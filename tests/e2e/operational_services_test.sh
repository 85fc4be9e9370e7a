#!/usr/bin/env bash
# Runs operational_services_test.py with Debian's Python, where Debian's
# python3-grpcio and python3-protobuf are installed (tools/bazel installs
# them), whatever python3 comes first on PATH.
#
#   operational_services_test.sh TEST.py WORKER DESCRIPTOR_SET
set -euo pipefail
python=/usr/bin/python3
if ! "$python" -c 'import grpc, google.protobuf' 2>/dev/null; then
  echo "operational_services_test: $python cannot import grpc and google.protobuf" \
       "(install Debian's python3-grpcio and python3-protobuf)" >&2
  exit 1
fi
exec "$python" "$@"
