// What every subcommand file of the berth CLI provides: a function that adds the subcommand
// to the application and, when it is chosen, sets the action main() runs after parsing.
#pragma once

#include <functional>
#include <string_view>

#include <CLI/CLI.hpp>

#include "shared/core/log.hpp"
#include "shared/core/result.hpp"

namespace berth::cli {

// State shared by all subcommands: global flags and the action chosen on the command line.
struct Invocation {
  int verbosity = 0;  // -v, -vv
  bool quiet = false;
  Logger log;  // set by main once the flags are known
  // The chosen subcommand's work; its Result decides the exit status.
  std::function<Result<int>()> action;
};

// One registration function per subcommand file.
void addPullCommand(CLI::App& app, Invocation& invocation);
void addCacheCommand(CLI::App& app, Invocation& invocation);
void addLoginCommand(CLI::App& app, Invocation& invocation);
void addRunCommands(CLI::App& app, Invocation& invocation);  // run, exec, shell
void addInspectCommand(CLI::App& app, Invocation& invocation);
void addBuildCommand(CLI::App& app, Invocation& invocation);
void addPushCommand(CLI::App& app, Invocation& invocation);
void addInfoCommand(CLI::App& app, Invocation& invocation);

// A subcommand whose issue has not landed yet: it parses nothing and fails clearly.
CLI::App* addNotImplementedCommand(CLI::App& app, Invocation& invocation, std::string_view name,
                                   std::string_view description);

}  // namespace berth::cli
