# Source lists of the CMake build, relative to the repository root.
#
# They must list exactly the .cc/.h files that runtime/BUILD.bazel and
# codegen/BUILD.bazel list: cmake/IwCheckSourceLists.cmake compares them at
# configure time and fails naming the file that is in one build and not the
# other. When you add a file to a BUILD.bazel, add it here too.

# The runtime library (//runtime:runtime): sources and private headers.
set(IW_RUNTIME_SOURCES
  runtime/host.cc
  runtime/internal/batch_queue.h
  runtime/internal/call_stream.cc
  runtime/internal/call_stream.h
  runtime/internal/call_stream_protocol.h
  runtime/internal/close_once.h
  runtime/internal/control_protocol.h
  runtime/internal/crash_details.h
  runtime/internal/deadline_timer.cc
  runtime/internal/deadline_timer.h
  runtime/internal/dispatcher.cc
  runtime/internal/dispatcher.h
  runtime/internal/grpc_config.cc
  runtime/internal/grpc_config.h
  runtime/internal/grpc_endpoint.cc
  runtime/internal/grpc_endpoint.h
  runtime/internal/grpc_workarounds.cc
  runtime/internal/grpc_workarounds.h
  runtime/internal/inprocess_endpoint.cc
  runtime/internal/inprocess_endpoint.h
  runtime/internal/middleware_chain.cc
  runtime/internal/middleware_chain.h
  runtime/internal/output_capture.cc
  runtime/internal/output_capture.h
  runtime/internal/overrun_watchdog.cc
  runtime/internal/overrun_watchdog.h
  runtime/internal/pool_admission.cc
  runtime/internal/pool_admission.h
  runtime/internal/pool_supervisor.cc
  runtime/internal/pool_supervisor.h
  runtime/internal/remote_endpoint.cc
  runtime/internal/remote_endpoint.h
  runtime/internal/retry_policy.cc
  runtime/internal/retry_policy.h
  runtime/internal/schema.cc
  runtime/internal/schema.h
  runtime/internal/spawn.cc
  runtime/internal/spawn_environment.cc
  runtime/internal/spawn_environment.h
  runtime/internal/status_conversion.cc
  runtime/internal/status_conversion.h
  runtime/internal/status_macros.h
  runtime/internal/timeouts.cc
  runtime/internal/tsan_support.cc
  runtime/internal/worker_call_stream.cc
  runtime/internal/worker_call_stream.h
  runtime/internal/worker_pool.cc
  runtime/internal/worker_pool.h
  runtime/internal/worker_process.cc
  runtime/internal/worker_process.h
  runtime/logging.cc
  runtime/metadata.cc
  runtime/paths.cc
  runtime/process/subprocess.cc
  runtime/process/subprocess.h
  runtime/process/unique_fd.h
  runtime/transport/fd_transport.cc
  runtime/transport/fd_transport.h
  runtime/transport/network_address.cc
  runtime/transport/network_address.h
  runtime/transport/peer_credentials.cc
  runtime/transport/peer_credentials.h
  runtime/transport/unix_socket_path.cc
  runtime/transport/unix_socket_path.h
  runtime/worker.cc
  runtime/worker_crash.cc
)

# The runtime's public headers (the `hdrs` of //runtime:runtime): installed
# under <prefix>/include/isolated_workers/runtime/.
set(IW_RUNTIME_PUBLIC_HEADERS
  runtime/call_context.h
  runtime/codegen_support/handler_adapter.h
  runtime/codegen_support/host_stub_base.h
  runtime/codegen_support/service_info.h
  runtime/host.h
  runtime/internal/connection.h
  runtime/internal/timeouts.h
  runtime/logging.h
  runtime/metadata.h
  runtime/middleware.h
  runtime/options.h
  runtime/paths.h
  runtime/requirements.h
  runtime/status_details.h
  runtime/worker_crash.h
)

# The code generator (//codegen:generator).
set(IW_CODEGEN_SOURCES
  codegen/file_emitter.cc
  codegen/file_emitter.h
  codegen/file_model.cc
  codegen/file_model.h
  codegen/formatting.cc
  codegen/formatting.h
  codegen/generator.cc
  codegen/generator.h
  codegen/handler_emitter.cc
  codegen/handler_emitter.h
  codegen/host_stub_emitter.cc
  codegen/host_stub_emitter.h
  codegen/names.cc
  codegen/names.h
  codegen/proto_options.cc
  codegen/proto_options.h
)

# The plugin's main() (//codegen:protoc-gen-iw).
set(IW_PLUGIN_SOURCES
  codegen/plugin_main.cc
)
