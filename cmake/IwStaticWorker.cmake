# iw_link_system_libraries_statically(): one worker executable with gRPC,
# protobuf, Abseil and their dependencies linked statically.
#
#   add_executable(ping_worker ping_worker.cc)
#   target_link_libraries(ping_worker PRIVATE ping_proto)   # iw_generate()'d
#   iw_link_system_libraries_statically(ping_worker)
#
# A dynamically linked worker spends most of its startup in the dynamic
# loader (~57 shared libraries; docs/startup-notes.md). This links gRPC,
# gRPC's dependencies (OpenSSL, c-ares, re2, upb, zlib), protobuf and Abseil
# into <target> from Debian's static archives (libgrpc++.a, ...), which the
# -dev packages ship; glibc, libstdc++, libgcc_s, libm and libatomic stay
# shared. Other targets (hosts, tests) are not affected. Debian's archives are
# built for executables (PIE), not for shared libraries: <target> must be an
# executable.
#
# How: CMake names these libraries by full path (imported targets), and a
# full path is always linked dynamically, so the link command of <target>
# runs through cmake/iw_static_link.sh (RULE_LAUNCH_LINK), which replaces each
# of them by the static archive beside it. Makefile and Ninja generators only
# (RULE_LAUNCH_LINK is theirs).

set(_IW_STATIC_LINK_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/iw_static_link.sh")

function(iw_link_system_libraries_statically target)
  if(NOT TARGET "${target}")
    message(FATAL_ERROR "iw_link_system_libraries_statically: ${target} is not a target")
  endif()
  get_target_property(type "${target}" TYPE)
  if(NOT type STREQUAL "EXECUTABLE")
    message(FATAL_ERROR "iw_link_system_libraries_statically(${target}): ${target} is a "
                        "${type}, not an executable (Debian's static archives are not PIC)")
  endif()
  if(NOT CMAKE_GENERATOR MATCHES "Makefiles|Ninja")
    message(FATAL_ERROR "iw_link_system_libraries_statically(${target}): needs a Makefile or "
                        "Ninja generator (RULE_LAUNCH_LINK), not ${CMAKE_GENERATOR}")
  endif()
  set_property(TARGET "${target}" PROPERTY RULE_LAUNCH_LINK
               "/bin/sh \"${_IW_STATIC_LINK_SCRIPT}\"")
endfunction()
