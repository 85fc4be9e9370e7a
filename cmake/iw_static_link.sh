#!/bin/sh
# Link launcher of iw_link_system_libraries_statically() (IwStaticWorker.cmake):
# CMake runs the executable's link command through it (RULE_LAUNCH_LINK).
#
# CMake's imported targets of gRPC, Abseil, protobuf and their dependencies
# name shared libraries by full path (/usr/lib/.../libgrpc++.so.1.51.1), and a
# full path is always linked dynamically; there is no per-executable way to
# ask CMake for the static archive instead. This script runs the command with
# each such library replaced by the static archive beside it (libgrpc++.a),
# when one exists, and the replacements put in one --start-group ...
# --end-group (archives, unlike shared libraries, must otherwise be ordered by
# their dependencies). glibc, libstdc++, libgcc_s, libm and libatomic stay
# shared. Libraries named by -l (pkg-config style) are replaced by -l:lib<name>.a.
set -eu

grouped=0
for arg do
  shift
  case $arg in
    -l*) stem=lib${arg#-l} ;;
    *.so | *.so.*)
      base=${arg##*/}
      stem=${base%%.so*}
      ;;
    *) stem= ;;
  esac
  case $stem in
    libgrpc | libgrpc++ | libgpr | libupb | libaddress_sorting | libre2 | libcares | libz | \
      libssl | libcrypto | libprotobuf | libabsl_*)
      case $arg in
        -l*) archive=-l:$stem.a ;;
        *)
          archive=${arg%/*}/$stem.a
          if [ ! -f "$archive" ]; then
            echo "iw_static_link.sh: no static archive $archive for $arg (install the -dev package that ships it)" >&2
            exit 1
          fi
          ;;
      esac
      if [ $grouped = 0 ]; then
        set -- "$@" -Wl,--start-group
        grouped=1
      fi
      set -- "$@" "$archive"
      continue
      ;;
  esac
  set -- "$@" "$arg"
done
if [ $grouped = 1 ]; then
  set -- "$@" -Wl,--end-group
fi
exec "$@"
