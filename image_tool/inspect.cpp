// berth inspect [--json] IMAGE: an image's metadata, read from /.berth/ without mounting it.
#include "shared/container/image_inspect.hpp"

#include <fmt/format.h>

#include "image_tool/command.hpp"
#include "image_tool/image_resolver.hpp"

namespace berth::cli {

void addInspectCommand(CLI::App& app, Invocation& invocation) {
  struct Args {
    std::string image;
    bool json = false;
    bool sandbox = false;
  };
  static Args args;
  CLI::App* command = app.add_subcommand("inspect", "Show an image's metadata");
  command->add_flag("--json", args.json, "Print JSON");
  command->add_flag("--sandbox", args.sandbox, "IMAGE is a directory (sandbox image)");
  command->add_option("image", args.image, "Squashfs image file, sandbox directory or reference")
      ->required();
  command->callback([&invocation] {
    invocation.action = [&invocation]() -> Result<int> {
      BERTH_ASSIGN(auto image, container::locateImage(args.image, args.sandbox,
                                                      cacheImageResolver(invocation.log)));
      BERTH_ASSIGN(auto report, container::inspectImage(image));
      fmt::print("{}", args.json ? container::inspectJson(report) : container::inspectText(report));
      return 0;
    };
  });
}

}  // namespace berth::cli
