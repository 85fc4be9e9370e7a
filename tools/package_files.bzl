"""`all_files()`: every file of a package, for the tests that read the tree.

//:source_tree (the consumer tests: nested Bazel, CMake, plain protoc) and
//:format_inputs (//tests/style:format_test) are made of these filegroups; a
glob cannot reach into another package.
"""

def all_files(visibility = []):
    native.filegroup(
        name = "all_files",
        srcs = native.glob(["**"]),
        visibility = ["//:__pkg__"] + visibility,
    )
