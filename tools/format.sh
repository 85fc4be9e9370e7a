#!/usr/bin/env bash
# Formats our C++ sources with clang-format and the repository's .clang-format.
#
#   tools/format.sh                 # formats every source in place
#   tools/format.sh --check         # lists the unformatted ones, exit 1 if any
#   tools/format.sh [--check] FILE...   # only these files
#
# Sources: *.cc and *.h under the repository root, except third_party/,
# testdata/ directories (goldens), generated files (*.pb.*, *.iw.*), build
# outputs (bazel-* symlinks, examples' build/ and gen/ directories) and hidden
# directories. --root=DIR looks under DIR instead (it must hold the
# .clang-format); //tests/style:format_test runs --check over its runfiles.
# CLANG_FORMAT overrides the binary (default: clang-format; Debian bookworm's
# is version 14, the version the tree is formatted with).
set -euo pipefail

usage() {
  echo "usage: tools/format.sh [--check] [--root=DIR] [FILE...]" >&2
  exit 2
}

check=0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
files=()
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    --root=*) root="${arg#--root=}" ;;
    -*) usage ;;
    *) files+=("$arg") ;;
  esac
done

if ! root="$(cd "$root" 2>/dev/null && pwd)"; then
  echo "tools/format.sh: --root: no such directory" >&2
  exit 2
fi

clang_format="${CLANG_FORMAT:-clang-format}"
if ! command -v "$clang_format" >/dev/null 2>&1; then
  echo "tools/format.sh: $clang_format not found (Debian: apt-get install clang-format)" >&2
  exit 2
fi
config="$root/.clang-format"
if [[ ! -f "$config" ]]; then
  echo "tools/format.sh: no .clang-format in $root" >&2
  exit 2
fi

if ((${#files[@]} > 0)); then
  for f in "${files[@]}"; do
    if [[ ! -f "$f" ]]; then
      echo "tools/format.sh: no such file: $f" >&2
      exit 2
    fi
  done
else
  cd "$root"
  # Runfiles are symlinks, hence -type l as well; find does not follow them
  # into directories (bazel-*), and they are pruned by name anyway.
  mapfile -t files < <(
    find . \( -type d \( -name '.?*' -o -name 'bazel-*' -o -name testdata \
                         -o -path ./third_party -o -path ./build \
                         -o -path './examples/consumer_*/build' \
                         -o -path ./examples/consumer_make/gen \) -prune \) \
      -o \( -type f -o -type l \) \( -name '*.cc' -o -name '*.h' \) \
         ! -name '*.pb.cc' ! -name '*.pb.h' ! -name '*.iw.cc' ! -name '*.iw.h' -print |
      sed 's|^\./||' | LC_ALL=C sort
  )
  if ((${#files[@]} == 0)); then
    echo "tools/format.sh: no C++ sources under $root" >&2
    exit 2
  fi
fi

if ((check == 0)); then
  "$clang_format" -i --style="file:$config" "${files[@]}"
  exit 0
fi

# One clang-format process for all files (one per file takes ~100x longer);
# it reports "FILE:LINE:COL: error: code should be clang-formatted".
status=0
output="$("$clang_format" --dry-run -Werror --ferror-limit=1 --style="file:$config" \
  "${files[@]}" 2>&1)" || status=$?
mapfile -t unformatted < <(
  grep -E ': error: code should be clang-formatted' <<<"$output" | cut -d: -f1 | LC_ALL=C sort -u
)
if ((status != 0 && ${#unformatted[@]} == 0)); then
  echo "$output" >&2
  echo "tools/format.sh: $clang_format failed (exit $status)" >&2
  exit 2
fi
if ((${#unformatted[@]} > 0)); then
  printf '%s\n' "${unformatted[@]}"
  echo "tools/format.sh: ${#unformatted[@]} of ${#files[@]} C++ sources are not formatted" \
    "($("$clang_format" --version | head -n 1)); run tools/format.sh to fix them" >&2
  exit 1
fi
echo "tools/format.sh: all ${#files[@]} C++ sources are formatted" >&2
