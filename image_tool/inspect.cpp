// berth inspect [--json | --runscript | --helpfile | --deffile | --labels | --environment] IMAGE:
// an image's metadata, read from /.berth/ without mounting it; berth run-help IMAGE: its help.
#include "shared/container/image_inspect.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "image_tool/command.hpp"
#include "image_tool/image_resolver.hpp"
#include "image_tool/site.hpp"
#include "shared/container/inject_inspect.hpp"

namespace berth::cli {
namespace {

struct InspectArgs {
  std::string image;
  bool json = false;
  bool sandbox = false;
  bool mpi = false;                           // --mpi: the image's MPI stack (mounts the image)
  std::vector<container::InspectItem> items;  // Apptainer's flags, in the order they are defined
};

Result<container::InspectReport> report(const InspectArgs& args, const Logger& log) {
  BERTH_ASSIGN(auto image,
               container::locateImage(args.image, args.sandbox, cacheImageResolver(log)));
  return container::inspectImage(image);
}

// The parts asked for, one after the other; a part the image lacks is one line on stderr.
int printParts(const container::InspectReport& r,
               const std::vector<container::InspectItem>& items) {
  for (container::InspectItem item : items) {
    container::InspectPart part = container::inspectPart(r, item);
    if (part.text)
      fmt::print("{}", *part.text);
    else
      fmt::print(stderr, "berth: {}\n", part.missing);
  }
  return 0;
}

}  // namespace

void addInspectCommand(CLI::App& app, Invocation& invocation) {
  static InspectArgs args;
  CLI::App* command = app.add_subcommand("inspect", "Show an image's metadata");
  command->add_flag("--json", args.json, "Print JSON");
  struct Flag {
    const char* name;
    const char* description;
    container::InspectItem item;
  };
  for (const Flag& flag : {
           Flag{"--runscript", "Print only the runscript (/.berth/runscript)",
                container::InspectItem::kRunscript},
           Flag{"--helpfile", "Print only the help text (/.berth/help)",
                container::InspectItem::kHelp},
           Flag{"--deffile", "Print only the definition file the image was built from",
                container::InspectItem::kDefinition},
           Flag{"--labels", "Print only the labels, KEY=VALUE lines",
                container::InspectItem::kLabels},
           Flag{"--environment",
                "Print only the %environment script (else the image's Env as export lines)",
                container::InspectItem::kEnvironment},
       }) {
    command
        ->add_flag_callback(
            flag.name, [item = flag.item] { args.items.push_back(item); }, flag.description)
        ->excludes("--json");
  }
  command->add_flag("--mpi", args.mpi,
                    "Print the image's MPI, PMIx and glibc as srun's MPI checks see them");
  command->add_flag("--sandbox", args.sandbox, "IMAGE is a directory (sandbox image)");
  command->add_option("image", args.image, "Squashfs image file, sandbox directory or reference")
      ->required();
  command->callback([&invocation] {
    invocation.action = [&invocation]() -> Result<int> {
      if (args.mpi) {
        BERTH_ASSIGN(auto image, container::locateImage(args.image, args.sandbox,
                                                        cacheImageResolver(invocation.log)));
        BERTH_ASSIGN(auto site, loadSite());
        BERTH_ASSIGN(std::string text, container::inspectImageMpi(site, image));
        fmt::print("{}", text);
        return 0;
      }
      BERTH_ASSIGN(auto r, report(args, invocation.log));
      if (!args.items.empty())
        return printParts(r, args.items);
      fmt::print("{}", args.json ? container::inspectJson(r) : container::inspectText(r));
      return 0;
    };
  });

  CLI::App* help = app.add_subcommand("run-help", "Show a built image's help text (%help)");
  help->add_flag("--sandbox", args.sandbox, "IMAGE is a directory (sandbox image)");
  help->add_option("image", args.image, "Squashfs image file, sandbox directory or reference")
      ->required();
  help->callback([&invocation] {
    invocation.action = [&invocation]() -> Result<int> {
      BERTH_ASSIGN(auto r, report(args, invocation.log));
      fmt::print("{}", container::runHelpText(r));
      return 0;
    };
  });
}

}  // namespace berth::cli
