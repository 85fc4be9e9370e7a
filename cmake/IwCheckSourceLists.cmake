# Checks that the CMake source lists (cmake/IwSources.cmake) and the Bazel
# BUILD files name the same .cc/.h files of runtime/ (runtime/prometheus
# included) and codegen/, and fails
# naming each file that is in one build and not the other.
#
# Run at configure time by the root CMakeLists.txt, and standalone:
#   cmake -DIW_SOURCE_DIR=<repository root> -P cmake/IwCheckSourceLists.cmake
#
# Every quoted "*.cc"/"*.h" string of <dir>/BUILD.bazel (comments ignored)
# counts as a file of the Bazel build of <dir>, for each package <dir> of
# IW_SOURCE_PACKAGES; the CMake side is every list of cmake/IwSources.cmake
# restricted to files directly in <dir>/ (runtime/testing is not built by
# CMake and not compared).

cmake_policy(SET CMP0057 NEW)  # if(... IN_LIST ...), also in script mode

function(iw_check_source_lists source_dir)
  include("${source_dir}/cmake/IwSources.cmake")
  set(cmake_files
    ${IW_RUNTIME_SOURCES} ${IW_RUNTIME_PUBLIC_HEADERS}
    ${IW_PROMETHEUS_SOURCES} ${IW_PROMETHEUS_PUBLIC_HEADERS}
    ${IW_CODEGEN_SOURCES} ${IW_PLUGIN_SOURCES})
  set(errors "")
  set(IW_SOURCE_PACKAGES
    runtime runtime/codegen_support runtime/common runtime/wire
    runtime/process runtime/transport runtime/worker runtime/host
    runtime/prometheus codegen)
  foreach(dir IN LISTS IW_SOURCE_PACKAGES)
    file(READ "${source_dir}/${dir}/BUILD.bazel" build)
    string(REGEX REPLACE "#[^\n]*" "" build "${build}")
    string(REGEX MATCHALL "\"[A-Za-z0-9_./-]+\\.(cc|h)\"" quoted "${build}")
    set(bazel "")
    foreach(q IN LISTS quoted)
      string(REPLACE "\"" "" q "${q}")
      list(APPEND bazel "${dir}/${q}")
    endforeach()
    list(REMOVE_DUPLICATES bazel)
    set(cmake "")
    foreach(f IN LISTS cmake_files)
      get_filename_component(f_dir "${f}" DIRECTORY)
      if(f_dir STREQUAL dir)
        list(APPEND cmake "${f}")
      endif()
    endforeach()
    foreach(f IN LISTS bazel)
      if(NOT f IN_LIST cmake)
        string(APPEND errors
          "  ${f} is in ${dir}/BUILD.bazel but not in cmake/IwSources.cmake\n")
      endif()
    endforeach()
    foreach(f IN LISTS cmake)
      if(NOT f IN_LIST bazel)
        string(APPEND errors
          "  ${f} is in cmake/IwSources.cmake but not in ${dir}/BUILD.bazel\n")
      endif()
    endforeach()
  endforeach()
  if(errors)
    message(FATAL_ERROR
      "The CMake and Bazel source lists differ:\n${errors}"
      "Add the file to both builds (or remove it from both).")
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(NOT IW_SOURCE_DIR)
    get_filename_component(IW_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  endif()
  iw_check_source_lists("${IW_SOURCE_DIR}")
  message(STATUS "CMake and Bazel source lists agree")
endif()
