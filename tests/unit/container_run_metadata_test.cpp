// A built image's metadata at run time: the runscript and test rules (entrypoint.hpp), the
// %environment wrapper and the names it must not change (environment.hpp), inspect's parts and
// run-help (image_inspect.hpp).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "shared/container/entrypoint.hpp"
#include "shared/container/environment.hpp"
#include "shared/container/image_inspect.hpp"

using namespace berth;
using namespace berth::container;

namespace {

using V = std::vector<std::string>;

// What /bin/sh prints for `printf %s WORD` (WORD a shell word): the quoting's round trip.
std::string printedByShell(const std::string& word) {
  std::string command = "printf %s " + word;
  std::string quoted = shellQuoted(command);
  FILE* pipe = ::popen(("/bin/sh -c " + quoted).c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[256];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe))
    out.append(buffer, n);
  CHECK(::pclose(pipe) == 0);
  return out;
}

}  // namespace

TEST_CASE("run: a built image's runscript, with the arguments") {
  image::ImageConfig config;
  config.entrypoint = {"/entry"};
  config.cmd = {"default"};
  CommandRequest request;
  request.mode = LaunchMode::kRun;
  request.args = {"a", "b c"};
  request.scripts.runscript = true;
  CHECK(*containerCommand(config, request) == V{"/bin/sh", "/.berth/runscript", "a", "b c"});
  request.args.clear();
  CHECK(*containerCommand(config, request) == V{"/bin/sh", "/.berth/runscript"});
  // --entrypoint overrides the runscript as it overrides ENTRYPOINT.
  request.entrypoint = "/bin/echo";
  CHECK(*containerCommand(config, request) == V{"/bin/echo"});
  // Without a runscript: Docker's rules, as before.
  request.entrypoint.reset();
  request.scripts.runscript = false;
  CHECK(*containerCommand(config, request) == V{"/entry", "default"});
  // exec and shell never run it.
  request.scripts.runscript = true;
  request.mode = LaunchMode::kExec;
  request.args = {"id"};
  CHECK(*containerCommand(config, request) == V{"id"});
}

TEST_CASE("test: /.berth/test with /bin/sh, an error without one") {
  image::ImageConfig config;
  CommandRequest request;
  request.mode = LaunchMode::kTest;
  request.args = {"x"};
  auto none = containerCommand(config, request);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message() == "the image has no test (/.berth/test)");
  request.scripts.test = true;
  CHECK(*containerCommand(config, request) == V{"/bin/sh", "/.berth/test", "x"});
}

TEST_CASE("environment: shellQuoted survives the shell") {
  for (const std::string& value :
       {std::string("plain"), std::string("two words"), std::string("it's"),
        std::string("$HOME `id` \"q\" \\ ; & |"), std::string("'''"), std::string("")})
    CHECK(printedByShell(shellQuoted(value)) == value);
}

TEST_CASE("environment: the names an image's %environment must not change") {
  EnvList host{"SLURM_PROCID=3", "OMP_NUM_THREADS=8", "HOME=/home/u",
               "PMIX_RANK=3",    "KEEP=host",         "PATH=/host/bin"};
  EnvironmentOptions options;
  options.hostWins = {"KEEP", "ABSENT"};
  options.set = {{"SET", "1"}, {"KEEP", "2"}};
  options.preset = {{"RANK", "0"}};
  options.user = "u";
  V names = namesOverImageScript(host, options);
  // Per-task and identity values of the host, the user's identity, presets, rule 3 names the
  // host has, rule 4 names; each once. Ordinary host names (OMP_NUM_THREADS) and host-only
  // ones (PATH) may change.
  CHECK(names == V{"SLURM_PROCID", "HOME", "PMIX_RANK", "USER", "LOGNAME", "RANK", "KEEP", "SET"});
}

TEST_CASE("environment: the %environment wrapper sources, sets again, then execs") {
  EnvList env{"PATH=/bin", "SET=a 'b'", "HOME=/home/u"};
  V argv = sourcingImageEnvironment({"cowsay", "hi there"}, env, {"SET", "HOME", "UNSET"});
  REQUIRE(argv.size() == 6);
  CHECK(argv[0] == "/bin/sh");
  CHECK(argv[1] == "-c");
  CHECK(argv[2] ==
        ". /.berth/environment\n"
        "export SET='a '\\''b'\\'''\n"
        "export HOME='/home/u'\n"
        "exec \"$@\"\n");
  CHECK(argv[3] == "berth");
  CHECK(V(argv.begin() + 4, argv.end()) == V{"cowsay", "hi there"});
}

TEST_CASE("inspect: each part alone, and run-help") {
  InspectReport report;
  auto runscript = inspectPart(report, InspectItem::kRunscript);
  CHECK_FALSE(runscript.text);
  CHECK(runscript.missing == "the image has no runscript (/.berth/runscript)");
  CHECK(inspectPart(report, InspectItem::kHelp).missing == "the image has no help (/.berth/help)");
  CHECK(inspectPart(report, InspectItem::kDefinition).missing ==
        "the image has no definition file (/.berth/definition)");
  CHECK(inspectPart(report, InspectItem::kLabels).missing == "the image has no labels");
  CHECK(inspectPart(report, InspectItem::kEnvironment).missing == "the image sets no environment");
  CHECK(runHelpText(report) == "No help for this image (it has no /.berth/help).\n");

  report.runscript = "#!/bin/sh\nexec cowsay \"$@\"";  // no final newline: one is added
  report.help = "Says things.\n";
  report.definition = "Bootstrap: docker\nFrom: debian:12\n";
  report.config.labels = {{"b", "2"}, {"a", "1"}};
  report.config.env = {"PATH=/usr/games:/bin", "Q=it's"};
  CHECK(*inspectPart(report, InspectItem::kRunscript).text == "#!/bin/sh\nexec cowsay \"$@\"\n");
  CHECK(*inspectPart(report, InspectItem::kHelp).text == "Says things.\n");
  CHECK(*inspectPart(report, InspectItem::kDefinition).text == *report.definition);
  CHECK(*inspectPart(report, InspectItem::kLabels).text == "a=1\nb=2\n");
  // No %environment: the image's Env as it would be written there.
  CHECK(*inspectPart(report, InspectItem::kEnvironment).text ==
        "export PATH='/usr/games:/bin'\nexport Q='it'\\''s'\n");
  report.environment = "export LC_ALL=C\n";
  CHECK(*inspectPart(report, InspectItem::kEnvironment).text == "export LC_ALL=C\n");
  CHECK(runHelpText(report) == "Says things.\n");
  CHECK(inspectText(report).find("Environment:\nexport LC_ALL=C\n") != std::string::npos);
  CHECK(inspectJson(report).find("\"environment\": \"export LC_ALL=C\\n\"") != std::string::npos);
}
