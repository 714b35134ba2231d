// Fuzz target: definition-file parsing (Apptainer rules, %arguments substitution). Any input
// must give a model or a one-line "FILE..." error, never a crash, hang or sanitizer report; a
// model's line numbers point into the input and its canonical step texts can be made.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "shared/build/cache_key.hpp"
#include "shared/build/definition_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024)
    return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  berth::build::DefinitionParseOptions options{"fuzz.def", {{"VERSION", "12"}}};
  auto file = berth::build::parseDefinitionFile(text, options);
  if (!file.ok()) {
    if (!file.error().message().starts_with("fuzz.def"))
      std::abort();
    return 0;
  }
  if (file->stages.empty())
    std::abort();
  for (const auto& stage : file->stages) {
    if (stage.line < 1)
      std::abort();
    for (const auto& section : stage.sections) {
      for (int line : section.lines)
        if (line < stage.line)
          std::abort();
      (void)berth::build::canonicalSection(section);
    }
    for (const auto& files : stage.files)
      (void)berth::build::canonicalFiles(files);
  }
  return 0;
}
