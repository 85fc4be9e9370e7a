// The libFuzzer entry points every fuzz target defines. With libFuzzer
// (clang -fsanitize=fuzzer) its own main() drives them; otherwise
// standalone_driver.cc does (corpus replay plus simple random mutations), so
// the targets build and run with the default gcc toolchain too.
#ifndef IW_FUZZ_FUZZ_TARGET_H_
#define IW_FUZZ_FUZZ_TARGET_H_

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Optional one-time setup (a weak symbol: targets may leave it out).
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

#endif  // IW_FUZZ_FUZZ_TARGET_H_
