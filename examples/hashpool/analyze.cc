#include "examples/hashpool/analyze.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hashpool {
namespace {

constexpr size_t kChunk = 256 << 10;
// zlib's fastest level: the point is a realistic CPU-bound job, not the
// best ratio (level 6 is 3-4x slower on this kind of text).
constexpr int kLevel = 1;

// Stands in for a third-party native decoder with a memory-safety bug: some
// inputs make it crash the process. We simulate the crash with abort(); a
// real one would more likely be a SIGSEGV from a wild pointer.
void InspectHeader(absl::string_view first_bytes, const std::string& path) {
  if (absl::StartsWith(first_bytes, kPoisonMagic)) {
    std::fprintf(stderr, "decoder: corrupt block header in %s; aborting\n", path.c_str());
    std::fflush(stderr);
    std::abort();
  }
}

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

}  // namespace

absl::StatusOr<Analysis> AnalyzeFile(const std::string& path,
                                     const std::function<bool()>& cancelled,
                                     const std::function<void(int64_t bytes_done)>& progress) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  FdCloser closer{fd};

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (sha == nullptr || EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("EVP_DigestInit_ex(SHA-256) failed");
  }
  z_stream zs = {};
  if (deflateInit(&zs, kLevel) != Z_OK) return absl::InternalError("deflateInit failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> zs_guard(&zs, &deflateEnd);

  std::vector<unsigned char> in(kChunk);
  std::vector<unsigned char> out(kChunk);
  Analysis result;
  bool first = true;
  while (true) {
    if (cancelled && cancelled()) {
      return absl::CancelledError(absl::StrCat("stopped reading ", path, ": cancelled"));
    }
    ssize_t n = ::read(fd, in.data(), in.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    if (first) {
      InspectHeader(absl::string_view(reinterpret_cast<const char*>(in.data()), n), path);
      first = false;
    }
    result.size += n;
    EVP_DigestUpdate(sha.get(), in.data(), n);
    zs.next_in = in.data();
    zs.avail_in = static_cast<uInt>(n);
    const int flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
      zs.next_out = out.data();
      zs.avail_out = static_cast<uInt>(out.size());
      rc = deflate(&zs, flush);
      result.compressed_size += out.size() - zs.avail_out;
    } while (zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    if (n == 0) break;
    if (progress) progress(result.size);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_DigestFinal_ex(sha.get(), digest, &digest_size);
  result.sha256 =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), digest_size));
  return result;
}

}  // namespace hashpool
