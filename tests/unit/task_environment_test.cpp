// The Slurm glue of the environment (spank_plugin/task_environment.hpp): the task's environment
// changed in place to what the shared rules give (the rules: container_environment_test.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <optional>

#include "spank_plugin/task_environment.hpp"

using namespace berth::spank;

namespace {
std::optional<std::string> valueIn(const std::vector<std::string>& env, std::string_view name) {
  for (const std::string& entry : env) {
    if (entry.rfind(std::string(name) + "=", 0) == 0)
      return entry.substr(name.size() + 1);
  }
  return std::nullopt;
}

std::vector<std::string> taskEnv(const std::vector<std::string>& host,
                                 const std::vector<std::string>& image,
                                 const berth::container::EnvironmentOptions& options) {
  return applyEnvironmentChanges(host, taskEnvironmentChanges(host, image, options));
}
}  // namespace

TEST_CASE("task environment: the shared rules applied to the task's environment") {
  std::vector<std::string> host{"PATH=/host/bin",   "LD_LIBRARY_PATH=/host/lib",
                                "SLURM_PROCID=3",   "HOME=/home/berthtest",
                                "EDITOR=vim",       "LANG=C.UTF-8",
                                "SHARED=from-host", "MODULEPATH=/host/modules"};
  std::vector<std::string> image{"PATH=/opt/app/bin:/usr/bin", "LANG=en_US.UTF-8",
                                 "SHARED=from-image", "APP_HOME=/opt/app"};
  berth::config::SiteConfig site;
  site.hostOnlyEnv = {"MODULEPATH"};
  auto env = taskEnv(host, image, taskEnvironmentOptions({}, false, site));
  CHECK(valueIn(env, "PATH") == "/opt/app/bin:/usr/bin");
  CHECK_FALSE(valueIn(env, "LD_LIBRARY_PATH"));
  CHECK_FALSE(valueIn(env, "MODULEPATH"));  // berth.conf host_only_env
  CHECK(valueIn(env, "SLURM_PROCID") == "3");
  CHECK(valueIn(env, "HOME") == "/home/berthtest");
  CHECK(valueIn(env, "EDITOR") == "vim");
  CHECK(valueIn(env, "LANG") == "en_US.UTF-8");
  CHECK(valueIn(env, "SHARED") == "from-image");
  CHECK(valueIn(env, "APP_HOME") == "/opt/app");
  CHECK(std::count_if(env.begin(), env.end(), [](auto& e) { return e.rfind("PATH=", 0) == 0; }) ==
        1);

  env = taskEnv(host, image, taskEnvironmentOptions({"SHARED"}, false, site));
  CHECK(valueIn(env, "SHARED") == "from-host");

  env = taskEnv(host, image, taskEnvironmentOptions({}, true, site));  // --container-cleanenv
  CHECK_FALSE(valueIn(env, "EDITOR"));
  CHECK(valueIn(env, "SLURM_PROCID") == "3");
  CHECK(valueIn(env, "HOME") == "/home/berthtest");
}

TEST_CASE("task environment: changes are minimal") {
  std::vector<std::string> host{"SLURM_JOB_ID=5", "FOO=1", "LD_PRELOAD=/x.so"};
  auto changes = taskEnvironmentChanges(host, {"PATH=/bin", "FOO=1"}, {});
  CHECK(changes.unset == std::vector<std::string>{"LD_PRELOAD"});
  REQUIRE(changes.set.size() == 1);
  CHECK(changes.set[0] == std::pair<std::string, std::string>{"PATH", "/bin"});
  berth::container::EnvironmentOptions clean;
  clean.host = berth::container::HostEnvironment::kClean;
  changes = taskEnvironmentChanges(host, {"PATH=/bin"}, clean);
  CHECK(changes.unset == std::vector<std::string>{"FOO", "LD_PRELOAD"});
}

TEST_CASE("--container-env: names checked, the flag named in errors") {
  auto names = parseEnvironmentNames("FOO, BAR_2");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"FOO", "BAR_2"});
  CHECK(parseEnvironmentNames("2X").error().message() ==
        "--container-env: `2X` is not a variable name");
  CHECK(parseEnvironmentNames("A,,B").error().message() ==
        "--container-env: `` is not a variable name");
}
