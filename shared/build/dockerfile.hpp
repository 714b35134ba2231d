// Dockerfiles as the builder runs them: stages of steps with Docker's substitution applied and
// the state each step runs in (syntax: dockerfile_syntax.hpp).
//
// Scoping follows Docker:
//  - ARGs before the first FROM are global: only FROM lines see them, and a stage sees one only
//    after re-declaring it (`ARG NAME` without a value takes the global value);
//  - `--build-arg NAME=VALUE` overrides a declared ARG's default; undeclared ones are unused;
//  - TARGETPLATFORM/TARGETOS/TARGETARCH/TARGETVARIANT and BUILDPLATFORM/... are predefined in
//    the global scope, and in a stage once declared;
//  - ENV (including the base image's Env) overrides an ARG of the same name; all values of one
//    ENV or LABEL are expanded with the variables from before it;
//  - FROM, ADD, COPY, ENV, ARG, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR (and ONBUILD
//    triggers, when they run) are expanded here; RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK are
//    left to the shell. RUN gets the declared ARGs and the ENV as its environment, and the
//    proxy build args (HTTP_PROXY, ...) without a declaration, outside the cache key.
// ONBUILD triggers of the base (an image's or an earlier stage's) run right after FROM.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/build/dockerfile_config.hpp"
#include "shared/build/dockerfile_syntax.hpp"
#include "shared/core/result.hpp"

namespace berth::build {

// The image configuration a stage builds up (OCI config field names in comments).
struct StageConfig {
  std::vector<std::pair<std::string, std::string>> env;  // Env, in order of first setting
  std::string workdir;                                   // WorkingDir; empty: "/"
  std::string user;                                      // User
  std::optional<std::vector<std::string>> cmd;           // Cmd
  std::optional<std::vector<std::string>> entrypoint;    // Entrypoint
  std::vector<std::string> shell = {"/bin/sh", "-c"};    // for shell forms (Docker's Shell)
  std::map<std::string, std::string> labels;             // Labels
  std::set<std::string> exposedPorts;                    // ExposedPorts: "80/tcp"
  std::set<std::string> volumes;                         // Volumes
  std::string stopSignal;                                // StopSignal
  std::optional<HealthcheckConfig> healthcheck;          // Healthcheck
  std::vector<std::string> onBuild;                      // OnBuild triggers for children
};

// One instruction, expanded, with the state it runs in.
struct DockerStep {
  DockerInstructionKind kind = DockerInstructionKind::kRun;
  std::string keyword;                       // "RUN"
  int line = 0;                              // its line (a base's ONBUILD trigger: the FROM line)
  std::string text;                          // the instruction as written (history's created_by)
  bool fromOnBuild = false;                  // a trigger of the base
  std::map<std::string, std::string> flags;  // expanded: from, chown, chmod, checksum
  int fromStage = -1;                        // COPY --from=an earlier stage: its index
  // COPY/ADD: sources..., destination; EXPOSE: "80/tcp"...; VOLUME: paths; WORKDIR: the
  // absolute directory; USER, STOPSIGNAL: the value; MAINTAINER: the name.
  std::vector<std::string> args;
  // RUN, CMD, ENTRYPOINT: the command, SHELL + text for the shell form.
  std::vector<std::string> argv;
  bool execForm = false;
  std::vector<std::pair<std::string, std::string>> keyValues;  // ENV, LABEL, ARG (as resolved)
  std::optional<HealthcheckConfig> healthcheck;
  std::string onBuild;  // ONBUILD: the trigger text
  // In effect while the step runs (after its own change for WORKDIR, USER, SHELL, ARG, ENV):
  std::vector<std::string> environment;  // RUN: "NAME=value", declared ARGs with a value, ENV
  // RUN: --build-arg proxies no ARG declares ("HTTP_PROXY=..."): given to the command but, as
  // Docker does, not part of the cache key (a changed proxy gives the same layer).
  std::vector<std::string> proxyEnvironment;
  std::string workdir;  // "/" when none was set
  std::string user;
  std::vector<std::string> shell;
};

struct DockerStage {
  std::string name;      // `AS name` (lower case), empty when unnamed
  int line = 0;          // the FROM line
  std::string base;      // expanded FROM image, "scratch", or the earlier stage's name
  int baseStage = -1;    // FROM an earlier stage: its index
  std::string platform;  // expanded --platform, empty when none
  std::vector<DockerStep> steps;
  StageConfig config;  // the stage's image config after its last step
};

struct Dockerfile {
  std::vector<DockerStage> stages;           // the last one is the default target
  std::vector<std::string> unusedBuildArgs;  // --build-arg names no ARG declared
};

// What a base image contributes before the first step.
struct BaseImageConfig {
  StageConfig config;  // its Env, WorkingDir, User, Cmd, Entrypoint, Labels, ..., OnBuild
};

struct DockerfileOptions {
  std::string fileName = "Dockerfile";           // "FILE:LINE:" prefixes
  std::map<std::string, std::string> buildArgs;  // --build-arg NAME=VALUE
  std::string targetPlatform = "linux/amd64";    // TARGET* args ("os/arch[/variant]")
  std::string buildPlatform = "linux/amd64";     // BUILD* args
  // The config of an image named by FROM (after expansion; `platform` may be empty). Unset:
  // every image base is empty (tests, syntax checks).
  std::function<Result<BaseImageConfig>(const std::string& image, const std::string& platform)>
      baseImage;
};

// Parses and expands a whole Dockerfile; the first problem is the error ("FILE:LINE: ...").
[[nodiscard]] Result<Dockerfile> parseDockerfile(std::string_view text,
                                                 const DockerfileOptions& options);

}  // namespace berth::build
