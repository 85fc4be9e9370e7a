#!/usr/bin/env bash
# Regenerates the golden files of tests/codegen/testdata with the real
# protoc-gen-iw plugin:
#
#   tools/update_goldens.sh                 # builds //codegen:protoc-gen-iw
#   PLUGIN=/path/to/protoc-gen-iw tools/update_goldens.sh
#
# Review the resulting diff like code; then run
#   bazel test //tests/codegen/...
set -euo pipefail

cd "$(dirname "$0")/.."
readonly TESTDATA=tests/codegen/testdata
# Fixtures with goldens (the bad_*.proto fixtures are negative tests).
readonly CASES=(basic no_package multi_service no_service streaming)

if [[ -z "${PLUGIN:-}" ]]; then
  bazel build //codegen:protoc-gen-iw
  PLUGIN="$(bazel info bazel-bin)/codegen/protoc-gen-iw"
fi

out="$(mktemp -d)"
trap 'rm -rf "${out}"' EXIT

for name in "${CASES[@]}"; do
  protoc --plugin=protoc-gen-iw="${PLUGIN}" --iw_out="${out}" \
    -I"${TESTDATA}" -Iproto -I/usr/include "${name}.proto"
  for suffix in .iw.h .iw.cc; do
    cp "${out}/${name}${suffix}" "${TESTDATA}/${name}${suffix}.golden"
  done
  echo "updated ${TESTDATA}/${name}.iw.{h,cc}.golden"
done
