#include "codegen/generator.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "codegen/file_emitter.h"
#include "codegen/file_model.h"
#include "codegen/names.h"
#include "google/protobuf/compiler/code_generator.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/printer.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace iw::codegen {

absl::StatusOr<GeneratorOptions> ParseGeneratorOptions(absl::string_view parameter) {
  std::vector<std::pair<std::string, std::string>> pairs;
  google::protobuf::compiler::ParseGeneratorParameter(std::string(parameter), &pairs);
  if (!pairs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown parameter \"", pairs.front().first,
                                                   "\" (protoc-gen-iw takes no parameters)"));
  }
  return GeneratorOptions{};
}

bool Generator::Generate(const google::protobuf::FileDescriptor* file, const std::string& parameter,
                         google::protobuf::compiler::GeneratorContext* context,
                         std::string* error) const {
  absl::StatusOr<GeneratorOptions> options = ParseGeneratorOptions(parameter);
  if (!options.ok()) {
    *error = std::string(options.status().message());
    return false;
  }
  absl::StatusOr<FileModel> model = BuildFileModel(*file);
  if (!model.ok()) {
    *error = std::string(model.status().message());
    return false;
  }
  {
    std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> output(
        context->Open(GeneratedHeaderName(file->name())));
    google::protobuf::io::Printer printer(output.get(), '$');
    EmitHeader(*model, &printer);
  }
  {
    std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> output(
        context->Open(GeneratedSourceName(file->name())));
    google::protobuf::io::Printer printer(output.get(), '$');
    EmitSource(*model, &printer);
  }
  return true;
}

}  // namespace iw::codegen
