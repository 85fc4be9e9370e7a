"""Compiler options every C++ target of this repository is built with.

IW_COPTS makes C++17 a property of our own targets (and of the code that
iw_cc_library generates), not of a .bazelrc: a consumer's workspace builds our
runtime and plugin correctly whatever its own flags. Bazel 4.2's
auto-configured toolchain passes -std=c++0x, which this overrides.

A consumer's own code that includes our headers needs C++17 too; our headers
say so with a clear #error (runtime/requirements.h) and docs/build.md gives
the one .bazelrc line.
"""

IW_COPTS = ["-std=c++17"]
