// A small stand-in for libFuzzer's main(), for toolchains without
// -fsanitize=fuzzer (the default gcc build): replays every corpus file, then
// runs random mutations of the corpus (no coverage feedback) until an
// iteration or time budget is used up. A crash, sanitizer report or failed
// check in the target fails the run as it would under libFuzzer.
//
// Usage: <target> [--iterations=N] [--max_seconds=S] [--seed=N]
//                 [--max_len=N] CORPUS_DIR_OR_FILE...
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"

namespace {

using Bytes = std::string;

void AddFile(const std::string& path, std::vector<Bytes>* corpus) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  corpus->push_back(contents.str());
}

void AddPath(const std::string& path, std::vector<Bytes>* corpus) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "fuzz driver: %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(2);
  }
  if (!S_ISDIR(st.st_mode)) {
    AddFile(path, corpus);
    return;
  }
  DIR* dir = ::opendir(path.c_str());
  std::vector<std::string> names;
  while (struct dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') names.push_back(entry->d_name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());  // deterministic order
  for (const std::string& name : names) AddPath(path + "/" + name, corpus);
}

int Run(const Bytes& input) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// One random edit of `input`, libFuzzer-style.
void Mutate(std::mt19937_64& random, const std::vector<Bytes>& corpus, size_t max_len,
            Bytes* input) {
  static const char* const kInteresting[] = {"\x00",
                                             "\xff",
                                             "\x7f",
                                             "\x80",
                                             "\xff\xff\xff\xff\x0f",
                                             "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
                                             "{",
                                             "}",
                                             ";",
                                             "\"",
                                             "=",
                                             "option",
                                             "service",
                                             "rpc",
                                             "message",
                                             "(iw.service)",
                                             "(iw.method)",
                                             "returns",
                                             "stream",
                                             "import",
                                             "package",
                                             "syntax",
                                             "proto2",
                                             "optional",
                                             "repeated",
                                             "map<string, int32>",
                                             "oneof",
                                             "enum",
                                             "extend",
                                             "-1",
                                             "9223372036854775807",
                                             "99999999999999999999"};
  auto pick = [&random](size_t n) { return n == 0 ? 0 : random() % n; };
  switch (random() % 8) {
    case 0:  // flip a bit
      if (!input->empty()) (*input)[pick(input->size())] ^= 1 << (random() % 8);
      break;
    case 1:  // set a random byte
      if (!input->empty()) (*input)[pick(input->size())] = static_cast<char>(random());
      break;
    case 2: {  // insert random bytes
      Bytes insert(1 + random() % 8, '\0');
      for (char& c : insert) c = static_cast<char>(random());
      input->insert(pick(input->size() + 1), insert);
      break;
    }
    case 3:  // erase a range
      if (!input->empty()) {
        size_t at = pick(input->size());
        input->erase(at, 1 + pick(std::min<size_t>(16, input->size() - at)));
      }
      break;
    case 4: {  // duplicate a range
      if (input->empty()) break;
      size_t at = pick(input->size());
      size_t len = 1 + pick(std::min<size_t>(32, input->size() - at));
      input->insert(pick(input->size() + 1), input->substr(at, len));
      break;
    }
    case 5: {  // insert an interesting token
      const char* token = kInteresting[pick(sizeof(kInteresting) / sizeof(kInteresting[0]))];
      input->insert(pick(input->size() + 1), token, std::max<size_t>(1, std::strlen(token)));
      break;
    }
    case 6: {  // splice with another corpus entry
      const Bytes& other = corpus[pick(corpus.size())];
      size_t cut = pick(input->size() + 1);
      size_t from = pick(other.size() + 1);
      *input = input->substr(0, cut) + other.substr(from);
      break;
    }
    case 7:  // truncate
      input->resize(pick(input->size() + 1));
      break;
  }
  if (input->size() > max_len) input->resize(max_len);
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  long iterations = 1000;
  double max_seconds = 60;
  unsigned long long seed = 1;
  size_t max_len = 4096;
  std::vector<Bytes> corpus;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--iterations=", 0) == 0) {
      iterations = std::atol(arg.c_str() + 13);
    } else if (arg.rfind("--max_seconds=", 0) == 0) {
      max_seconds = std::atof(arg.c_str() + 14);
    } else if (arg.rfind("--seed=", 0) == 0) {
      seed = std::strtoull(arg.c_str() + 7, nullptr, 10);
    } else if (arg.rfind("--max_len=", 0) == 0) {
      max_len = std::strtoul(arg.c_str() + 10, nullptr, 10);
    } else if (arg.rfind("-", 0) == 0) {
      std::fprintf(stderr, "fuzz driver: unknown flag %s\n", arg.c_str());
      return 2;
    } else {
      AddPath(arg, &corpus);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (const Bytes& input : corpus) Run(input);
  std::fprintf(stderr, "fuzz driver: replayed %zu corpus inputs\n", corpus.size());
  if (corpus.empty()) corpus.push_back(Bytes());
  std::mt19937_64 random(seed);
  long done = 0;
  for (; done < iterations && elapsed() < max_seconds; ++done) {
    Bytes input = corpus[random() % corpus.size()];
    int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) Mutate(random, corpus, max_len, &input);
    Run(input);
  }
  std::fprintf(stderr, "fuzz driver: %ld mutated inputs in %.1f s (seed %llu), no crash\n", done,
               elapsed(), seed);
  return 0;
}
