// berth: the command-line face of berth. Everything it does lives in shared/; this file only
// parses the command line, runs the chosen subcommand and turns its Result into an exit status.
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "image_tool/command.hpp"

namespace {

berth::Logger stderrLogger(int verbosity, bool quiet) {
  berth::LogLevel threshold = quiet            ? berth::LogLevel::kWarning
                              : verbosity >= 2 ? berth::LogLevel::kDebug
                              : verbosity == 1 ? berth::LogLevel::kVerbose
                                               : berth::LogLevel::kInfo;
  return berth::Logger(
      [](berth::LogLevel level, std::string_view message) {
        if (level <= berth::LogLevel::kWarning) {
          fmt::print(stderr, "berth: {}: {}\n", berth::logLevelName(level), message);
        } else {
          fmt::print(stderr, "berth: {}\n", message);
        }
      },
      threshold);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"berth: container images for Slurm clusters, and a runtime to use them", "berth"};
  app.set_version_flag("--version", fmt::format("berth {}", BERTH_VERSION));
  app.require_subcommand(1);

  berth::cli::Invocation invocation;
  app.add_flag("-v,--verbose", invocation.verbosity, "More detail on stderr (repeat for debug)");
  app.add_flag("-q,--quiet", invocation.quiet, "Only warnings and errors on stderr");

  berth::cli::addPullCommand(app, invocation);
  berth::cli::addCacheCommand(app, invocation);
  berth::cli::addLoginCommand(app, invocation);
  berth::cli::addRunCommands(app, invocation);
  berth::cli::addInspectCommand(app, invocation);
  berth::cli::addBuildCommand(app, invocation);
  berth::cli::addPushCommand(app, invocation);
  berth::cli::addInfoCommand(app, invocation);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  invocation.log = stderrLogger(invocation.verbosity, invocation.quiet);
  if (!invocation.action) {
    fmt::print(stderr, "berth: no command given; see `berth --help`\n");
    return 2;
  }
  berth::Result<int> status = invocation.action();
  if (!status.ok()) {
    fmt::print(stderr, "berth: {}\n", status.error().message());
    return 1;
  }
  return *status;
}
