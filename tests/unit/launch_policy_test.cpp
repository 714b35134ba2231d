// The launch policy both faces use (shared/container/entrypoint.hpp, launch.hpp): working
// directory, entrypoint and command, PATH search. Where the Slurm task and the CLI differ, each
// is a row here.
#include <doctest/doctest.h>

#include <set>

#include "shared/container/entrypoint.hpp"
#include "shared/container/launch.hpp"

using namespace berth;
using namespace berth::container;

namespace {

const ItemNames kSrun{.bind = "--container-mounts", .workdir = "--container-workdir"};
const ItemNames kCli{.bind = "--bind", .workdir = "--pwd"};

}  // namespace

TEST_CASE("working directory: the Slurm task checks inside, the CLI trusts its plan") {
  std::set<std::string> dirs{"/home/u/run", "/app", "/"};
  auto exists = [&](const std::string& d) { return dirs.count(d) != 0; };
  auto task = [&](std::optional<std::string> requested, std::string caller, std::string image) {
    return workingDirectory(
        {.requested = requested, .callerDir = caller, .imageWorkdir = image, .exists = exists},
        kSrun);
  };
  CHECK(*task(std::string("/app"), "/home/u/run", "/x") == "/app");
  CHECK(task(std::string("/nope"), "/home/u/run", "").error().message() ==
        "--container-workdir=/nope: no such directory in the container");
  CHECK(*task(std::nullopt, "/home/u/run", "/app") == "/home/u/run");
  CHECK(*task(std::nullopt, "/home/other", "/app") == "/app");
  CHECK(*task(std::nullopt, "/home/other", "/missing") == "/");
  CHECK(*task(std::nullopt, "/", "/app") == "/app");  // launched from /: the image's choice

  auto cli = [&](std::optional<std::string> requested, std::string caller, std::string image) {
    return workingDirectory(
        {.requested = requested, .callerDir = caller, .imageWorkdir = image, .exists = {}}, kCli);
  };
  CHECK(*cli(std::nullopt, "", "") == "/");
  CHECK(*cli(std::nullopt, "", "/srv") == "/srv");
  CHECK(*cli(std::nullopt, "/home/u/p", "/srv") == "/home/u/p");
  CHECK(*cli(std::string("/x"), "/home/u/p", "/srv") == "/x");  // chdir names a missing one
}

TEST_CASE("entrypoint: the Slurm task's command runs as the image's Entrypoint's arguments") {
  image::ImageConfig config;
  config.entrypoint = {"/bin/sh", "-c"};
  config.cmd = {"ignored"};
  CommandRequest task{
      .mode = LaunchMode::kRun, .args = {"echo", "hi"}, .entrypoint = std::nullopt, .shell = {}};
  CHECK(*containerCommand(config, task) == std::vector<std::string>{"/bin/sh", "-c", "echo", "hi"});
}

TEST_CASE("PATH search: one rule for the Slurm task's check and the CLI's exec") {
  CHECK(commandCandidates("ls", "/usr/local/bin::/bin") ==
        std::vector<std::string>{"/usr/local/bin/ls", "./ls", "/bin/ls"});
  CHECK(commandCandidates("/opt/x", "/usr/bin") == std::vector<std::string>{"/opt/x"});
  std::set<std::string> files{"/usr/bin/cowsay"};
  auto executable = [&](const std::string& f) { return files.count(f) != 0; };
  CHECK(findInPath("cowsay", "/usr/local/bin:/usr/bin", executable) == "/usr/bin/cowsay");
  CHECK(findInPath("/opt/x", "/usr/bin", executable) == "/opt/x");
  CHECK_FALSE(findInPath("missing", "/usr/bin", executable));
  CHECK_FALSE(findInPath("", "/usr/bin", executable));
  CHECK(kDefaultSearchPath == "/usr/bin:/bin");
}
