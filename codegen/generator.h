// -----------------------------------------------------------------------------
// File: codegen/generator.h
// -----------------------------------------------------------------------------
//
// protoc-gen-iw's code generator: for every .proto it is run on, writes
// `<base>.iw.h` and `<base>.iw.cc` (see file_emitter.h for their shape).
// Errors in the input (bad option values, streaming methods, colliding names)
// are reported through protoc as
// "<file.proto>: <Service>.<Method>: <what is wrong>".
//
// Example (the whole plugin, codegen/plugin_main.cc):
//
//   int main(int argc, char* argv[]) {
//     iw::codegen::Generator generator;
//     return google::protobuf::compiler::PluginMain(argc, argv, &generator);
//   }

#ifndef IW_CODEGEN_GENERATOR_H_
#define IW_CODEGEN_GENERATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/compiler/code_generator.h"

namespace iw::codegen {

// Plugin parameters (`--iw_opt=key=value,...`). There are none yet; every key
// is rejected with an error, so a typo never goes unnoticed. Document each
// new key here.
struct GeneratorOptions {};

// Parses the parameter string protoc passes to the generator.
absl::StatusOr<GeneratorOptions> ParseGeneratorOptions(absl::string_view parameter);

// Stateless; thread-compatible.
class Generator : public google::protobuf::compiler::CodeGenerator {
 public:
  bool Generate(const google::protobuf::FileDescriptor* file, const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override;

  uint64_t GetSupportedFeatures() const override { return FEATURE_PROTO3_OPTIONAL; }
};

}  // namespace iw::codegen

#endif  // IW_CODEGEN_GENERATOR_H_
