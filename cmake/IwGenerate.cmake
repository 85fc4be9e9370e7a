# iw_generate(): C++ code (protobuf + isolated-workers stubs) from .proto files.
#
#   iw_generate(TARGET <target>
#               PROTOS <file.proto>...
#               [PROTO_ROOT <dir>]
#               [IMPORT_DIRS <dir>...]
#               [OUT_DIR <dir>]
#               [NO_IW])
#
# Runs protoc once per .proto with --cpp_out and our plugin (--iw_out), adds
# the generated <name>.pb.cc/.iw.cc to <target> (any library or executable,
# created beforehand), adds OUT_DIR to its include path (PUBLIC) and links it
# to IsolatedWorkers::runtime (PUBLIC).
#
#   PROTO_ROOT   import root of PROTOS (default: CMAKE_CURRENT_SOURCE_DIR).
#                A file <root>/a/b.proto is imported as "a/b.proto" and its
#                code is included as "a/b.pb.h" / "a/b.iw.h".
#   IMPORT_DIRS  further -I roots, for .proto files this call only imports.
#                isolated_workers/options.proto and google/protobuf/*.proto
#                are always importable.
#   OUT_DIR      where the code goes (default:
#                ${CMAKE_CURRENT_BINARY_DIR}/iw_generated).
#   NO_IW        --cpp_out only (messages without our stubs).
#
# Dependencies: the code is regenerated when the .proto, anything it imports
# (protoc's --dependency_out, as a DEPFILE), protoc or the plugin change; with
# the plugin built in the same project (add_subdirectory), it is built first.
#
# Works the same after find_package(IsolatedWorkers) (installed plugin) and
# after add_subdirectory(<isolated-workers>) (plugin built in-tree): both
# define IsolatedWorkers::runtime and IsolatedWorkers::protoc-gen-iw.

function(iw_generate)
  cmake_parse_arguments(PARSE_ARGV 0 IW "NO_IW" "TARGET;PROTO_ROOT;OUT_DIR"
                        "PROTOS;IMPORT_DIRS")
  if(IW_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "iw_generate: unknown arguments: ${IW_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT IW_TARGET)
    message(FATAL_ERROR "iw_generate: TARGET is required")
  endif()
  if(NOT TARGET "${IW_TARGET}")
    message(FATAL_ERROR "iw_generate: TARGET ${IW_TARGET} is not a target "
                        "(create it first, e.g. add_library(${IW_TARGET}))")
  endif()
  if(NOT IW_PROTOS)
    message(FATAL_ERROR "iw_generate(TARGET ${IW_TARGET}): PROTOS is empty")
  endif()
  foreach(required IsolatedWorkers::runtime IsolatedWorkers::protoc-gen-iw)
    if(NOT TARGET ${required})
      message(FATAL_ERROR "iw_generate: ${required} is not defined: use "
        "find_package(IsolatedWorkers CONFIG REQUIRED) or "
        "add_subdirectory(<isolated-workers>) first")
    endif()
  endforeach()
  if(NOT IW_PROTO_ROOT)
    set(IW_PROTO_ROOT "${CMAKE_CURRENT_SOURCE_DIR}")
  endif()
  get_filename_component(IW_PROTO_ROOT "${IW_PROTO_ROOT}" ABSOLUTE
                         BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT IW_OUT_DIR)
    set(IW_OUT_DIR "${CMAKE_CURRENT_BINARY_DIR}/iw_generated")
  endif()
  get_filename_component(IW_OUT_DIR "${IW_OUT_DIR}" ABSOLUTE
                         BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")

  # Where isolated_workers/options.proto is, and protoc (set on the runtime
  # target by our CMakeLists.txt or by IsolatedWorkersConfig.cmake: under
  # add_subdirectory() FindProtobuf's targets are not visible here).
  get_target_property(options_dir IsolatedWorkers::runtime IW_PROTO_DIR)
  get_target_property(protoc IsolatedWorkers::runtime IW_PROTOC)
  if(NOT options_dir OR NOT protoc)
    message(FATAL_ERROR "iw_generate: IsolatedWorkers::runtime has no IW_PROTO_DIR/IW_PROTOC")
  endif()

  set(include_args "-I${IW_PROTO_ROOT}")
  foreach(dir IN LISTS IW_IMPORT_DIRS)
    get_filename_component(dir "${dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND include_args "-I${dir}")
  endforeach()
  list(APPEND include_args "-I${options_dir}")
  foreach(dir IN LISTS Protobuf_INCLUDE_DIRS)
    list(APPEND include_args "-I${dir}")
  endforeach()

  set(plugin_args "")
  set(plugin_deps "")
  set(suffixes .pb.h .pb.cc)
  if(NOT IW_NO_IW)
    list(APPEND plugin_args
      "--plugin=protoc-gen-iw=$<TARGET_FILE:IsolatedWorkers::protoc-gen-iw>"
      "--iw_out=${IW_OUT_DIR}")
    list(APPEND suffixes .iw.h .iw.cc)
    get_target_property(plugin_imported IsolatedWorkers::protoc-gen-iw IMPORTED)
    if(plugin_imported)
      set(plugin_deps "$<TARGET_FILE:IsolatedWorkers::protoc-gen-iw>")
    else()
      # Built in this project: a target-level dependency (built first) and a
      # file-level one (regenerate when it changes).
      get_target_property(plugin_deps IsolatedWorkers::protoc-gen-iw ALIASED_TARGET)
    endif()
  endif()

  set(generated "")
  foreach(proto IN LISTS IW_PROTOS)
    get_filename_component(proto_abs "${proto}" ABSOLUTE
                           BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    file(RELATIVE_PATH rel "${IW_PROTO_ROOT}" "${proto_abs}")
    if(rel MATCHES "^\\.\\./" OR IS_ABSOLUTE "${rel}")
      message(FATAL_ERROR "iw_generate(TARGET ${IW_TARGET}): ${proto} is not "
                          "under PROTO_ROOT ${IW_PROTO_ROOT}")
    endif()
    if(NOT rel MATCHES "\\.proto$")
      message(FATAL_ERROR "iw_generate(TARGET ${IW_TARGET}): ${proto} is not a .proto file")
    endif()
    string(REGEX REPLACE "\\.proto$" "" base "${rel}")
    set(outs "")
    foreach(suffix IN LISTS suffixes)
      list(APPEND outs "${IW_OUT_DIR}/${base}${suffix}")
    endforeach()
    string(MAKE_C_IDENTIFIER "${base}" depname)
    set(depfile "${CMAKE_CURRENT_BINARY_DIR}/iw_generate_${IW_TARGET}_${depname}.d")
    set(depfile_args "")
    if(NOT CMAKE_VERSION VERSION_LESS 3.21)
      set(depfile_args DEPFILE "${depfile}")
    endif()
    set(what "protoc --cpp_out")
    if(NOT IW_NO_IW)
      set(what "protoc --cpp_out --iw_out")
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${IW_OUT_DIR}"
      COMMAND "${protoc}" ${include_args}
              "--cpp_out=${IW_OUT_DIR}" ${plugin_args}
              "--dependency_out=${depfile}"
              "${proto_abs}"
      DEPENDS "${proto_abs}" "${options_dir}/isolated_workers/options.proto"
              "${protoc}" ${plugin_deps}
      ${depfile_args}
      COMMENT "Generating C++ code for ${rel} (${what})"
      VERBATIM)
    list(APPEND generated ${outs})
  endforeach()

  target_sources(${IW_TARGET} PRIVATE ${generated})
  target_include_directories(${IW_TARGET} PUBLIC "$<BUILD_INTERFACE:${IW_OUT_DIR}>")
  target_link_libraries(${IW_TARGET} PUBLIC IsolatedWorkers::runtime)
endfunction()
