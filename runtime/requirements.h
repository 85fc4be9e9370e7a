// -----------------------------------------------------------------------------
// File: requirements.h
// -----------------------------------------------------------------------------
//
// What isolated-workers needs from the compiler, checked before anything else
// is parsed so that a wrong setting fails with one clear message rather than
// pages of errors from deep inside our headers (or Abseil's "C++14" message,
// which is not enough either).
//
// Every public header and every generated `.iw.h` includes this one first.
//
// Bazel 4.2's auto-configured toolchain compiles with -std=c++0x: add
//
//   build --cxxopt=-std=c++17 --host_cxxopt=-std=c++17
//
// to your .bazelrc (docs/build.md, "Use it from your own project"). CMake
// targets linked to IsolatedWorkers::runtime get cxx_std_17 automatically.

#ifndef IW_RUNTIME_REQUIREMENTS_H_
#define IW_RUNTIME_REQUIREMENTS_H_

#if __cplusplus < 201703L
#error \
    "isolated-workers needs C++17 or later. Bazel: add 'build --cxxopt=-std=c++17 --host_cxxopt=-std=c++17' to your .bazelrc; CMake: target_compile_features(<target> PUBLIC cxx_std_17); g++: -std=c++17. See docs/build.md."
#endif

#endif  // IW_RUNTIME_REQUIREMENTS_H_
