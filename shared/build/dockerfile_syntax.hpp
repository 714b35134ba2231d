// Dockerfile syntax: lines into instructions, as Docker reads them, before any substitution.
//
//  - parser directives at the top (`# escape=\`` or `\`; `# syntax=` and `# check=` ignored);
//  - a line whose first non-blank character is `#` is a comment, also inside a continuation;
//  - a line ending in the escape character continues on the next (joined as they stand);
//  - the first word is the instruction (any case); `--name=value` words after FROM, RUN, COPY,
//    ADD and HEALTHCHECK are its flags;
//  - arguments in JSON array form (`["a", "b"]`) are the exec form; anything that is not a JSON
//    array of strings is the shell form (Docker's fallback).
// What berth does not support (`RUN --mount`, heredocs, other flags) is refused with one line:
// "FILE:LINE: what; hint". Substitution and stage scoping: dockerfile.hpp.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::build {

enum class DockerInstructionKind {
  kFrom,
  kRun,
  kCopy,
  kAdd,
  kEnv,
  kArg,
  kLabel,
  kWorkdir,
  kUser,
  kCmd,
  kEntrypoint,
  kShell,
  kExpose,
  kVolume,
  kStopSignal,
  kHealthcheck,
  kOnbuild,
  kMaintainer,
};

struct DockerInstruction {
  DockerInstructionKind kind = DockerInstructionKind::kRun;
  std::string keyword;  // upper case: "RUN"
  int line = 0;         // where the instruction starts
  std::string text;     // "RUN apt-get ...": the logical line, continuations joined
  std::vector<std::pair<std::string, std::string>> flags;  // {"from", "build"}, raw, in order
  std::string args;                   // after the keyword and flags, trimmed, raw
  bool execForm = false;              // args is a JSON array of strings
  std::vector<std::string> execArgs;  // its elements
};

struct DockerStageSyntax {
  DockerInstruction from;
  std::vector<DockerInstruction> instructions;  // after FROM, in order
};

struct DockerfileSyntax {
  char escape = '\\';
  std::vector<DockerInstruction> globalArgs;  // ARG lines before the first FROM
  std::vector<DockerStageSyntax> stages;
};

// Splits and checks a whole Dockerfile ("FILE:LINE: ..." errors name `fileName`).
[[nodiscard]] Result<DockerfileSyntax> parseDockerfileSyntax(std::string_view text,
                                                             std::string_view fileName);

// One instruction from its logical line (an ONBUILD trigger of a base image, or the
// instruction after ONBUILD). Errors carry no location; the caller adds it.
[[nodiscard]] Result<DockerInstruction> parseDockerInstruction(std::string_view line,
                                                               char escape = '\\');

// Splits `ENV`/`LABEL`/`ARG` arguments into raw (unexpanded) name/value pairs: `a=1 b="x y"`,
// or the legacy `NAME VALUE...` form when `legacy` allows it (ENV, LABEL). ARG may have a name
// without a value (value empty, `hasValue` false).
struct RawKeyValue {
  std::string key;
  std::string value;
  bool hasValue = true;
};
[[nodiscard]] Result<std::vector<RawKeyValue>> splitKeyValues(std::string_view args, char escape,
                                                              bool legacy);

}  // namespace berth::build
