"""proto_sources: the .proto files behind iw_cc_library targets, as data.

Lets a test read e.g. proto/isolated_workers/options.proto from its runfiles
without that file being exported by its package.
"""

load("//tools:iw_cc_library.bzl", "IwProtoInfo")

def _proto_sources_impl(ctx):
    files = depset(transitive = [
        dep[IwProtoInfo].transitive_sources
        for dep in ctx.attr.deps
    ])
    return [DefaultInfo(
        files = files,
        runfiles = ctx.runfiles(transitive_files = files),
    )]

proto_sources = rule(
    implementation = _proto_sources_impl,
    doc = "The transitive .proto sources of iw_cc_library `deps`.",
    attrs = {
        "deps": attr.label_list(providers = [IwProtoInfo]),
    },
)
