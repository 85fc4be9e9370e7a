"""iw_cc_library: C++ code (protobuf + isolated-workers stubs) from .proto files.

Bazel 4.2 has no proto_common, and we do not use native proto_library /
cc_proto_library (they would need @com_google_protobuf, which is not available
offline). Instead a small rule runs the system protoc (@system//:protoc) with
--cpp_out and, optionally, our plugin (//codegen:protoc-gen-iw, --iw_out).

Usage:

    load("@isolated_workers//tools:iw_cc_library.bzl", "iw_cc_library")

    iw_cc_library(
        name = "ping_cc",
        srcs = ["ping.proto"],          # imports "examples/common/common.proto"
        deps = ["//examples/common:common_cc", "//runtime:something"],
    )

    # C++:  #include "examples/ping/ping.pb.h"
    #       #include "examples/ping/ping.iw.h"

Targets created by `iw_cc_library(name = "foo_cc", ...)`:

    foo_cc       what users depend on (from cc_library/cc_binary/cc_test deps
                 or from another iw_cc_library's deps). Provides CcInfo (the
                 generated C++ library) and IwProtoInfo (transitive .proto
                 files and their import roots).
    foo_cc_gen   the protoc action (generated .pb.h/.pb.cc/.iw.h/.iw.cc).
    foo_cc_lib   the native cc_library compiling the generated code.

Imports: every .proto is imported by its path relative to its proto_root. With
the default proto_root (the repository root) examples/ping/ping.proto is
imported as "examples/ping/ping.proto". Our custom options live in
proto/isolated_workers/options.proto with proto_root = "proto", so they are
imported as "isolated_workers/options.proto" (and the C++ header is
"isolated_workers/options.pb.h"). google/protobuf/*.proto (descriptor.proto,
well-known types) are found by protoc itself in /usr/include. Do not import a
file by two different paths (e.g. "proto/isolated_workers/options.proto"):
protoc would treat them as two files defining the same symbols.
"""

load(":copts.bzl", "IW_COPTS")

# Labels of this repository, resolved here (Label) so that the macro works
# from any workspace that loads it, e.g. as @isolated_workers.
_OPTIONS_CC = Label("//proto:options_cc")
_CODEGEN_SUPPORT = Label("//runtime:codegen_support")
_RUNTIME = Label("//runtime")
_PROTOBUF = Label("@system//:protobuf")

IwProtoInfo = provider(
    doc = "Transitive .proto sources of an iw_cc_library and their import roots.",
    fields = {
        "transitive_sources": "depset of .proto Files (own + transitive deps)",
        "transitive_import_paths": "depset of protoc -I roots (exec-root relative)",
    },
)

def _join(*parts):
    return "/".join([p for p in parts if p not in ("", ".")])

def _proto_gen_impl(ctx):
    proto_root = ctx.attr.proto_root.strip("/")

    # Import root of this target's protos, relative to the exec root.
    own_root = _join(ctx.label.workspace_root, proto_root) or "."

    # Package directory relative to the repository root.
    pkg = ctx.label.package

    deps_info = [d[IwProtoInfo] for d in ctx.attr.deps if IwProtoInfo in d]

    generate_iw = hasattr(ctx.attr, "_plugin")

    # Outputs are predeclared (attr.output_list) so that the cc_library can
    # name them as hdrs/srcs; key them by package-relative name.
    short_prefix = _join(ctx.label.workspace_root.replace("external/", "../", 1), pkg)
    declared = {}
    for out in ctx.outputs.outs:
        key = out.short_path[len(short_prefix) + 1:] if short_prefix else out.short_path
        declared[key] = out
    outputs = []
    out_dir = None
    for src in ctx.files.srcs:
        if src.extension != "proto":
            fail("%s: srcs must be .proto files, got %s" % (ctx.label, src.short_path))
        if src.owner.workspace_root != ctx.label.workspace_root or src.owner.package != pkg:
            fail("%s: %s must be in package %s" % (ctx.label, src.short_path, pkg))

        # Path of the file inside its repository, e.g. proto/isolated_workers/options.proto
        repo_path = _join(pkg, src.owner.name)
        if proto_root and not repo_path.startswith(proto_root + "/"):
            fail("%s: %s is not under proto_root '%s'" % (ctx.label, repo_path, proto_root))
        import_path = repo_path[len(proto_root) + 1:] if proto_root else repo_path
        base = src.owner.name[:-len(".proto")]  # package-relative, no extension
        suffixes = [".pb.h", ".pb.cc"]
        if generate_iw:
            suffixes += [".iw.h", ".iw.cc"]
        for suffix in suffixes:
            out = declared.pop(base + suffix, None)
            if out == None:
                fail("%s: outs must contain %s" % (ctx.label, base + suffix))
            outputs.append(out)
            if out_dir == None:
                rel = import_path[:-len(".proto")] + suffix
                out_dir = out.path[:-(len(rel) + 1)]

    if declared:
        fail("%s: unexpected outs %s" % (ctx.label, sorted(declared.keys())))

    sources = depset(ctx.files.srcs, transitive = [i.transitive_sources for i in deps_info])
    import_paths = depset(
        [own_root],
        transitive = [i.transitive_import_paths for i in deps_info],
        order = "preorder",
    )

    args = ctx.actions.args()
    args.add_all(import_paths, format_each = "-I%s")
    args.add("--cpp_out=" + out_dir)
    tools = []
    if generate_iw:
        plugin = ctx.executable._plugin
        args.add("--plugin=protoc-gen-iw=" + plugin.path)
        args.add("--iw_out=" + out_dir)
        tools.append(ctx.attr._plugin[DefaultInfo].files_to_run)
    args.add_all(ctx.files.srcs)

    if outputs:
        ctx.actions.run(
            executable = ctx.executable._protoc,
            arguments = [args],
            inputs = sources,
            tools = tools,
            outputs = outputs,
            mnemonic = "IwProtoc",
            progress_message = "Generating C++ code for %s" % ctx.label,
        )

    return [
        DefaultInfo(files = depset(outputs)),
        IwProtoInfo(
            transitive_sources = sources,
            transitive_import_paths = import_paths,
        ),
    ]

_COMMON_ATTRS = {
    "srcs": attr.label_list(allow_files = [".proto"]),
    "deps": attr.label_list(),  # only targets with IwProtoInfo matter here
    "proto_root": attr.string(default = ""),
    "outs": attr.output_list(),  # generated files, computed by the macro
    "_protoc": attr.label(
        default = Label("@system//:protoc"),
        executable = True,
        cfg = "exec",
        allow_single_file = True,
    ),
}

# With the isolated-workers plugin (.pb.* and .iw.*).
_iw_proto_gen = rule(
    implementation = _proto_gen_impl,
    attrs = dict(_COMMON_ATTRS, _plugin = attr.label(
        default = Label("//codegen:protoc-gen-iw"),
        executable = True,
        cfg = "exec",
    )),
)

# Plain protobuf (.pb.* only). A separate rule so that it has no dependency
# on the plugin at all: the plugin itself links //proto:options_cc.
_pb_proto_gen = rule(
    implementation = _proto_gen_impl,
    attrs = _COMMON_ATTRS,
)

def _iw_cc_wrapper_impl(ctx):
    lib = ctx.attr.lib
    gen = ctx.attr.gen
    return [
        DefaultInfo(files = depset(transitive = [lib[DefaultInfo].files, gen[DefaultInfo].files])),
        lib[CcInfo],
        gen[IwProtoInfo],
    ]

_iw_cc_wrapper = rule(
    implementation = _iw_cc_wrapper_impl,
    attrs = {
        "lib": attr.label(providers = [CcInfo]),
        "gen": attr.label(providers = [IwProtoInfo]),
    },
)

def _has_label(deps, label):
    # deps mix Label objects and label strings as the caller spelled them.
    for d in deps:
        if d == label or d == str(label):
            return True
    return False

def _outs(srcs, generate_iw):
    suffixes = [".pb.h", ".pb.cc"] + ([".iw.h", ".iw.cc"] if generate_iw else [])
    return [s[:-len(".proto")] + suffix for s in srcs for suffix in suffixes]

def iw_cc_library(
        name,
        srcs,
        deps = [],
        proto_root = "",
        generate_iw = True,
        visibility = None,
        testonly = False,
        **kwargs):
    """C++ library generated from .proto files (protobuf + isolated-workers code).

    Args:
      name: target name; depend on it from cc_* rules and other iw_cc_library.
      srcs: .proto files of this package. For each foo.proto the library has
        foo.pb.h/foo.pb.cc and, when generate_iw, foo.iw.h/foo.iw.cc.
      deps: mixed list, passed unchanged to both halves:
        - other iw_cc_library targets: their .proto files (transitively) and
          import roots are given to protoc, so this target's protos can import
          them; their C++ code is linked in.
        - any other C++ targets (cc_library, @system//:grpc, ...): just C++ deps
          of the generated library (ignored by protoc).
        @system//:protobuf is always added; with generate_iw also
        //runtime:codegen_support and //proto:options_cc (so protos may import
        "isolated_workers/options.proto" without listing it).
      proto_root: directory (relative to the repository root, not to the
        package) that .proto imports and C++ #includes are relative to. Default
        "": the repository root. All srcs must be below it.
      generate_iw: run //codegen:protoc-gen-iw too. False only for
        //proto:options_cc (the plugin itself depends on it).
      visibility: visibility of `name` (internal targets are private).
      testonly: as usual, applied to all generated targets.
      **kwargs: extra cc_library attributes (copts, defines, tags, ...) for the
        generated library.
    """
    proto_root = proto_root.strip("/")
    gen_name = name + "_gen"
    lib_name = name + "_lib"
    tags = kwargs.get("tags", [])

    gen_deps = list(deps)
    if generate_iw and not _has_label(gen_deps, _OPTIONS_CC):
        gen_deps.append(_OPTIONS_CC)

    gen_rule = _iw_proto_gen if generate_iw else _pb_proto_gen
    gen_rule(
        name = gen_name,
        srcs = srcs,
        deps = gen_deps,
        outs = _outs(srcs, generate_iw),
        proto_root = proto_root,
        testonly = testonly,
        tags = tags,
        visibility = ["//visibility:private"],
    )

    base_names = [s[:-len(".proto")] for s in srcs]
    hdrs = [b + ".pb.h" for b in base_names]
    cc_srcs = [b + ".pb.cc" for b in base_names]
    cc_deps = list(deps)
    extra_deps = [_PROTOBUF]
    if generate_iw:
        hdrs += [b + ".iw.h" for b in base_names]
        cc_srcs += [b + ".iw.cc" for b in base_names]
        extra_deps += [_CODEGEN_SUPPORT, _RUNTIME, _OPTIONS_CC]
    for d in extra_deps:
        if not _has_label(cc_deps, d):
            cc_deps.append(d)

    lib_kwargs = dict(kwargs)
    lib_kwargs["copts"] = IW_COPTS + kwargs.get("copts", [])
    if proto_root:
        # "/" prefix = relative to the repository root.
        lib_kwargs["strip_include_prefix"] = "/" + proto_root

    native.cc_library(
        name = lib_name,
        srcs = cc_srcs,
        hdrs = hdrs,
        deps = cc_deps,
        testonly = testonly,
        visibility = ["//visibility:private"],
        **lib_kwargs
    )

    _iw_cc_wrapper(
        name = name,
        lib = ":" + lib_name,
        gen = ":" + gen_name,
        testonly = testonly,
        tags = tags,
        visibility = visibility,
    )
