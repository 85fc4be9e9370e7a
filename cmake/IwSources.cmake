# Source lists of the CMake build, relative to the repository root.
#
# They must list exactly the .cc/.h files that the BUILD.bazel files of
# runtime/, its layer packages and codegen/ list: cmake/IwCheckSourceLists.cmake compares them at
# configure time and fails naming the file that is in one build and not the
# other. When you add a file to a BUILD.bazel, add it here too.

# The runtime library (//runtime:runtime and its layers //runtime/common,
# wire, process, transport, worker, host; one library here): sources and
# private headers.
set(IW_RUNTIME_SOURCES
  runtime/call_context.cc
  runtime/common/close_once.h
  runtime/common/deadline_timer.cc
  runtime/common/deadline_timer.h
  runtime/common/demangle.cc
  runtime/common/demangle.h
  runtime/common/handler_concurrency.cc
  runtime/common/handler_concurrency.h
  runtime/common/middleware_chain.cc
  runtime/common/middleware_chain.h
  runtime/common/status_macros.h
  runtime/common/stream_state.cc
  runtime/common/stream_state.h
  runtime/common/timeouts.cc
  runtime/common/timeouts.h
  runtime/common/tsan_support.cc
  runtime/host.cc
  runtime/host/call_metrics.cc
  runtime/host/call_metrics.h
  runtime/host/call_stream.cc
  runtime/host/call_stream.h
  runtime/host/crash_details.h
  runtime/host/endpoint.h
  runtime/host/grpc_endpoint.cc
  runtime/host/grpc_endpoint.h
  runtime/host/grpc_failure.cc
  runtime/host/grpc_failure.h
  runtime/host/grpc_stream.cc
  runtime/host/grpc_stream.h
  runtime/host/host_stream.cc
  runtime/host/host_stream.h
  runtime/host/native_connection.cc
  runtime/host/native_connection.h
  runtime/host/inprocess_endpoint.cc
  runtime/host/inprocess_endpoint.h
  runtime/host/output_capture.cc
  runtime/host/output_capture.h
  runtime/host/pool_admission.cc
  runtime/host/pool_admission.h
  runtime/host/pool_slot.h
  runtime/host/pool_spares.cc
  runtime/host/pool_spares.h
  runtime/host/pool_stream.cc
  runtime/host/pool_stream.h
  runtime/host/pool_supervisor.cc
  runtime/host/pool_supervisor.h
  runtime/host/remote_endpoint.cc
  runtime/host/remote_endpoint.h
  runtime/host/retry_policy.cc
  runtime/host/retry_policy.h
  runtime/host/spawn.cc
  runtime/host/spawn_environment.cc
  runtime/host/spawn_environment.h
  runtime/host/worker_pool.cc
  runtime/host/worker_pool.h
  runtime/host/worker_process.cc
  runtime/host/worker_process.h
  runtime/logging.cc
  runtime/metadata.cc
  runtime/metrics.cc
  runtime/paths.cc
  runtime/trace_context.cc
  runtime/process/child_process.cc
  runtime/process/child_process.h
  runtime/process/child_rlimits.cc
  runtime/process/child_rlimits.h
  runtime/process/fork_server.cc
  runtime/process/fork_server.h
  runtime/process/fork_server_loop.cc
  runtime/process/fork_server_loop.h
  runtime/process/fork_server_protocol.cc
  runtime/process/fork_server_protocol.h
  runtime/process/process_usage.cc
  runtime/process/process_usage.h
  runtime/process/subprocess.cc
  runtime/process/subprocess.h
  runtime/process/unique_fd.h
  runtime/transport/fd_transport.cc
  runtime/transport/fd_transport.h
  runtime/transport/frame_socket.cc
  runtime/transport/frame_socket.h
  runtime/transport/network_address.cc
  runtime/transport/network_address.h
  runtime/transport/peer_credentials.cc
  runtime/transport/peer_credentials.h
  runtime/transport/unix_socket_path.cc
  runtime/transport/unix_socket_path.h
  runtime/wire/batch_queue.h
  runtime/wire/call_failure.cc
  runtime/wire/call_failure.h
  runtime/wire/call_stream_protocol.h
  runtime/wire/control_protocol.h
  runtime/wire/grpc_config.cc
  runtime/wire/grpc_config.h
  runtime/wire/grpc_workarounds.cc
  runtime/wire/grpc_workarounds.h
  runtime/wire/native_frames.cc
  runtime/wire/native_frames.h
  runtime/wire/schema.cc
  runtime/wire/schema.h
  runtime/wire/status_conversion.cc
  runtime/wire/status_conversion.h
  runtime/worker/call_stream.cc
  runtime/worker/call_stream.h
  runtime/worker/dispatcher.cc
  runtime/worker/dispatcher.h
  runtime/worker/executor.cc
  runtime/worker/executor.h
  runtime/worker/grpc_operational_protos.cc
  runtime/worker/grpc_operational_protos.h
  runtime/worker/grpc_stream_call.cc
  runtime/worker/grpc_stream_call.h
  runtime/worker/native_carrier.cc
  runtime/worker/native_carrier.h
  runtime/worker/operational_services.cc
  runtime/worker/operational_services.h
  runtime/worker/overrun_watchdog.cc
  runtime/worker/overrun_watchdog.h
  runtime/worker/process_tuning.cc
  runtime/worker/process_tuning.h
  runtime/worker/ready_hook.cc
  runtime/worker/ready_hook.h
  runtime/worker/serve.cc
  runtime/worker/service.cc
  runtime/worker/service.h
  runtime/worker/unary_call.cc
  runtime/worker/unary_call.h
  runtime/worker/worker_stream_call.cc
  runtime/worker/worker_stream_call.h
  runtime/worker_crash.cc
  runtime/worker_state.cc
)

# The runtime's public headers (the `hdrs` of //runtime:api, //runtime:runtime
# and //runtime/codegen_support): installed
# under <prefix>/include/isolated_workers/runtime/.
set(IW_RUNTIME_PUBLIC_HEADERS
  runtime/call_context.h
  runtime/call_handle.h
  runtime/codegen_support/handler_adapter.h
  runtime/codegen_support/host_support.h
  runtime/codegen_support/service_info.h
  runtime/host.h
  runtime/in_process.h
  runtime/logging.h
  runtime/metadata.h
  runtime/metrics.h
  runtime/middleware.h
  runtime/options.h
  runtime/paths.h
  runtime/requirements.h
  runtime/resource_limits.h
  runtime/status_details.h
  runtime/stream.h
  runtime/trace_context.h
  runtime/worker_config.h
  runtime/worker_crash.h
  runtime/worker_state.h
)

# The optional Prometheus exporter (//runtime/prometheus; CMake target
# IsolatedWorkers::prometheus, built when prometheus-cpp is found): sources
# and public headers (installed under
# <prefix>/include/isolated_workers/runtime/prometheus/).
set(IW_PROMETHEUS_SOURCES
  runtime/prometheus/prometheus_exporter.cc
)
set(IW_PROMETHEUS_PUBLIC_HEADERS
  runtime/prometheus/prometheus_exporter.h
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
