// -----------------------------------------------------------------------------
// File: fuzz/byte_reader.h
// -----------------------------------------------------------------------------
//
// Reads a fuzz input front to back, for the targets that build structured
// input from its bytes (call_stream_input.h, the native-carrier fuzzers).
#ifndef IW_FUZZ_BYTE_READER_H_
#define IW_FUZZ_BYTE_READER_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace iw::fuzz {

// Reads values from the input; 0 / empty once it is used up.
struct ByteReader {
  const uint8_t* data;
  size_t size;

  bool empty() const { return size == 0; }
  uint8_t Byte() {
    if (size == 0) return 0;
    --size;
    return *data++;
  }
  std::string Take(size_t n) {
    n = std::min(n, size);
    std::string out(reinterpret_cast<const char*>(data), n);
    data += n;
    size -= n;
    return out;
  }
};

}  // namespace iw::fuzz

#endif  // IW_FUZZ_BYTE_READER_H_
