#include <fmt/format.h>

#include "image_tool/command.hpp"

namespace berth::cli {

CLI::App* addNotImplementedCommand(CLI::App& app, Invocation& invocation, std::string_view name,
                                   std::string_view description) {
  CLI::App* command = app.add_subcommand(std::string(name), std::string(description));
  command->allow_extras();
  command->callback([&invocation, name = std::string(name)] {
    invocation.action = [name]() -> Result<int> {
      return Error(fmt::format("`berth {}` is not implemented yet", name));
    };
  });
  return command;
}

}  // namespace berth::cli
