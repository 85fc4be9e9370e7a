"""iw_cc_worker_binary: a worker executable with the system libraries linked in.

A dynamically linked worker spends most of its startup in the dynamic loader:
~57 shared libraries (gRPC, protobuf, Abseil, OpenSSL, ...) to map and ~15 K
symbol lookups, about two thirds of spawn -> first reply on our machine
(docs/startup-notes.md). Linking those libraries statically into the worker
removes that cost. `--config=static_system_libs` does it for every binary of a
build, tests included; this macro does it for ONE worker, in the default build,
while hosts and tests stay dynamic.

Usage:

    load("@isolated_workers//tools:iw_cc_worker_binary.bzl", "iw_cc_worker_binary")

    iw_cc_worker_binary(
        name = "ping_worker",
        srcs = ["ping_worker.cc"],
        deps = [":ping_cc"],              # iw_cc_library + your handler code
    )

    cc_binary(                            # or cc_test: hosts stay dynamic
        name = "ping_host",
        srcs = ["ping_host.cc"],
        data = [":ping_worker"],          # found in runfiles as usual
        deps = [":ping_cc"],
    )

Targets:

    <name>       the worker executable (bazel-bin/<pkg>/<name>); its runfiles
                 are those of `data` and `deps`, as for a cc_binary.
    <name>_objs  a cc_library (alwayslink) with `srcs`, `deps`, `copts`, ...
                 With static_system_libs = False, <name> is a plain cc_binary
                 and there is no <name>_objs.

How: the sources and every dependency are compiled ONCE, in the build's own
configuration (the objects a cc_binary would link: nothing is rebuilt), and
`<name>` is an extra link step (cc_common.link) that takes the same object
files and archives but replaces @system's `-lgrpc++ -labsl_* ...` by the
`.a` archives of @system//:static_system_libs (the list that
`--config=static_system_libs` uses). glibc, libstdc++, libm, libgcc_s and
libatomic stay shared (the toolchain's own `-lstdc++` comes last on the link
line, so `-static-libstdc++` has no effect): 6 DT_NEEDED entries instead of
~60. Cost: one link of a 17-21 MB executable (a few seconds), no compilation.

Why not a configuration transition to `--config=static_system_libs`
(`--define=iw_system_libs=static --dynamic_mode=off` on this one target)? A
transition makes a new configuration, so the whole dependency graph would be
compiled a second time (runtime, generated code, and the protoc plugin in the
exec configuration derived from it): minutes on 2 cores for object files
that the define does not change, since it only changes link flags. (Not
built here; the link-only rule made it unnecessary.)

Arguments:
  name: the executable's name.
  srcs, deps, data, copts, defines, local_defines, includes, linkopts,
    testonly, visibility, tags: as for cc_binary.
  static_system_libs: True (default): link gRPC, protobuf, Abseil, OpenSSL,
    c-ares, re2, upb and zlib statically. False: a plain
    cc_binary, linked with `-Wl,--as-needed` (DT_NEEDED only for the
    libraries the worker uses: the loader reaches libstdc++/libc sooner,
    ~3.5 ms of ~24 ms, docs/startup-notes.md).
  **kwargs: other cc_binary attributes (static_system_libs = False only).

Under --config=tsan the worker links the system libraries dynamically, as a
cc_binary would: the TSan build interposes the shared Abseil's
synchronisation functions (runtime/common/tsan_support.cc), which static
Abseil would define a second time.

Requirements: Debian's static archives (libgrpc++-dev, libgrpc-dev,
libprotobuf-dev, libabsl-dev, libssl-dev, libc-ares-dev, libre2-dev,
zlib1g-dev ship them), and an @system repository with the
`static_system_libs` target (tools/deps.bzl declares it).
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

# The @system repository as seen from the caller.
_SYSTEM_STATIC = Label("@system//:static_system_libs")

# What a dynamic worker adds to its cc_binary (see `static_system_libs`).
_AS_NEEDED = ["-Wl,--as-needed"]

# Attributes that describe how to compile: they go to <name>_objs.
_LIBRARY_ATTRS = ["copts", "defines", "local_defines", "includes", "linkopts"]

def _is_system(linker_input):
    # Inputs of @system//:grpc, :absl, :protobuf, ... (flags only, no files).
    owner = linker_input.owner
    return owner != None and owner.workspace_name == "system"

def _thread_sanitizer(ctx):
    cpp = ctx.fragments.cpp
    return "-fsanitize=thread" in cpp.copts + cpp.linkopts

def _static_worker_link_impl(ctx):
    cc_toolchain = find_cpp_toolchain(ctx)
    feature_configuration = cc_common.configure_features(
        ctx = ctx,
        cc_toolchain = cc_toolchain,
        requested_features = ctx.features,
        unsupported_features = ctx.disabled_features,
    )

    if _thread_sanitizer(ctx):
        # --config=tsan: runtime/common/tsan_support.cc interposes the shared
        # libabsl_synchronization's entry points (and forwards to them with
        # dlsym(RTLD_NEXT)); with Abseil's archives linked in they would be
        # defined twice. Link as a cc_binary would.
        linking_contexts = [dep[CcInfo].linking_context for dep in ctx.attr.deps]
    else:
        # Every library and flag of the dependencies, in link order, except
        # @system's shared-library flags; then the static archives.
        kept = []
        for dep in ctx.attr.deps:
            for linker_input in dep[CcInfo].linking_context.linker_inputs.to_list():
                if not _is_system(linker_input):
                    kept.append(linker_input)
        static_inputs = ctx.attr._static_system_libs[CcInfo].linking_context.linker_inputs.to_list()
        linking_contexts = [cc_common.create_linking_context(
            linker_inputs = depset(kept + static_inputs, order = "topological"),
        )]

    linking_outputs = cc_common.link(
        name = ctx.label.name,
        actions = ctx.actions,
        feature_configuration = feature_configuration,
        cc_toolchain = cc_toolchain,
        linking_contexts = linking_contexts,
        output_type = "executable",
        link_deps_statically = True,
    )
    executable = linking_outputs.executable

    runfiles = ctx.runfiles(files = ctx.files.data)
    for target in ctx.attr.data + ctx.attr.deps:
        runfiles = runfiles.merge(target[DefaultInfo].default_runfiles)
    return [DefaultInfo(
        files = depset([executable]),
        executable = executable,
        runfiles = runfiles,
    )]

_static_worker_link = rule(
    implementation = _static_worker_link_impl,
    executable = True,
    fragments = ["cpp"],
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
        "data": attr.label_list(allow_files = True),
        "_static_system_libs": attr.label(default = _SYSTEM_STATIC, providers = [CcInfo]),
        "_cc_toolchain": attr.label(default = "@bazel_tools//tools/cpp:current_cc_toolchain"),
    },
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
)

def iw_cc_worker_binary(
        name,
        srcs = [],
        deps = [],
        data = [],
        static_system_libs = True,
        testonly = False,
        visibility = None,
        tags = [],
        **kwargs):
    """A worker executable; see the file's docstring."""
    if not static_system_libs:
        native.cc_binary(
            name = name,
            srcs = srcs,
            deps = deps,
            data = data,
            linkopts = _AS_NEEDED + kwargs.pop("linkopts", []),
            testonly = testonly,
            visibility = visibility,
            tags = tags,
            **kwargs
        )
        return

    library = {key: kwargs.pop(key) for key in _LIBRARY_ATTRS if key in kwargs}
    if kwargs:
        fail("iw_cc_worker_binary(name = \"%s\"): with static_system_libs = True only %s " %
             (name, ", ".join(["srcs", "deps", "data"] + _LIBRARY_ATTRS)) +
             "are supported; got %s" % ", ".join(sorted(kwargs.keys())))
    objs = name + "_objs"
    native.cc_library(
        name = objs,
        srcs = srcs,
        deps = deps,
        # main() lives in an archive member: keep every object, as cc_binary
        # would link them.
        alwayslink = True,
        testonly = testonly,
        tags = tags,
        visibility = ["//visibility:private"],
        **library
    )
    _static_worker_link(
        name = name,
        deps = [":" + objs],
        data = data,
        testonly = testonly,
        tags = tags,
        visibility = visibility,
    )
