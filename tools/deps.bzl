"""The external repositories isolated-workers needs, for any WORKSPACE.

Everything comes from the local Debian installation; nothing is downloaded.
A consumer's WORKSPACE (see docs/build.md, "Use it from your own project"):

    local_repository(
        name = "isolated_workers",
        path = "/path/to/isolated-workers",
    )

    load("@isolated_workers//tools:deps.bzl", "isolated_workers_dependencies")

    isolated_workers_dependencies()

This repository's own WORKSPACE calls the same function.

Repositories declared (each one only if the WORKSPACE has none of that name,
so a consumer's own definition wins):

    @system                 /usr: Debian's gRPC, protobuf, Abseil, Catch2 and
                            protoc (BUILD file: //third_party:system.BUILD)
    @rules_cc               a shim whose cc/defs.bzl re-exports Bazel 4.2's
                            native C++ rules (Debian's bazel-rules-cc is too new
                            for Bazel 4.2, and Bazel would try to download it)
    @remote_coverage_tools  a stub that `bazel test` needs offline
    @rules_java             Debian's bazel-rules-java
"""

def _shim_repository_impl(repository_ctx):
    repository_ctx.file(
        "WORKSPACE",
        "workspace(name = \"%s\")\n" % repository_ctx.name,
        executable = False,
    )
    for label, path in repository_ctx.attr.files.items():
        repository_ctx.symlink(label, path)

# A repository assembled from files of this one: `files` maps each source file
# to its path inside the new repository.
_shim_repository = repository_rule(
    implementation = _shim_repository_impl,
    attrs = {"files": attr.label_keyed_string_dict(allow_files = True)},
    local = True,
)

def _declared(name):
    return native.existing_rule(name) != None

def isolated_workers_dependencies():
    """Declares @system, @rules_cc, @remote_coverage_tools and @rules_java.

    Call it from a WORKSPACE after loading this file. Repositories that the
    WORKSPACE already declares are left alone.
    """
    if not _declared("system"):
        native.new_local_repository(
            name = "system",
            path = "/usr",
            build_file = str(Label("//third_party:system.BUILD")),
        )
    if not _declared("rules_cc"):
        _shim_repository(
            name = "rules_cc",
            files = {
                Label("//third_party:rules_cc.BUILD"): "BUILD.bazel",
                Label("//third_party:rules_cc_cc.BUILD"): "cc/BUILD.bazel",
                Label("//third_party:rules_cc_defs.bzl"): "cc/defs.bzl",
            },
        )
    if not _declared("remote_coverage_tools"):
        _shim_repository(
            name = "remote_coverage_tools",
            files = {
                Label("//third_party:remote_coverage_tools.BUILD"): "BUILD.bazel",
            },
        )
    if not _declared("rules_java"):
        native.local_repository(
            name = "rules_java",
            path = "/usr/share/bazel/rules/java",
        )
