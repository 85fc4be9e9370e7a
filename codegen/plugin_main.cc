// protoc-gen-iw: the protoc plugin of isolated-workers. Usage:
//
//   protoc --plugin=protoc-gen-iw=path/to/protoc-gen-iw --iw_out=OUT_DIR
//       -I... path/to/service.proto
//
// Writes <base>.iw.h and <base>.iw.cc next to protoc's <base>.pb.h.

#include "codegen/generator.h"
#include "google/protobuf/compiler/plugin.h"

int main(int argc, char* argv[]) {
  iw::codegen::Generator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
