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
}  // namespace

TEST_CASE("task environment: image first, Slurm/PMIx/MPI pass, host paths never") {
  std::vector<std::string> host{"PATH=/host/bin",
                                "LD_LIBRARY_PATH=/host/lib",
                                "LD_PRELOAD=/host/evil.so",
                                "SLURM_PROCID=3",
                                "SLURMD_NODENAME=n1",
                                "PMIX_RANK=3",
                                "PMI_FD=5",
                                "OMPI_MCA_btl_tcp_if_include=lo",
                                "HOME=/home/berthtest",
                                "EDITOR=vim",
                                "LANG=C.UTF-8",
                                "SHARED=from-host"};
  std::vector<std::string> image{"PATH=/opt/app/bin:/usr/bin", "LANG=en_US.UTF-8",
                                 "SHARED=from-image", "APP_HOME=/opt/app"};
  auto env = applyEnvironmentChanges(host, taskEnvironmentChanges(host, image, {}));
  CHECK(valueIn(env, "PATH") == "/opt/app/bin:/usr/bin");
  CHECK_FALSE(valueIn(env, "LD_LIBRARY_PATH"));
  CHECK_FALSE(valueIn(env, "LD_PRELOAD"));
  CHECK(valueIn(env, "SLURM_PROCID") == "3");
  CHECK(valueIn(env, "SLURMD_NODENAME") == "n1");
  CHECK(valueIn(env, "PMIX_RANK") == "3");
  CHECK(valueIn(env, "PMI_FD") == "5");
  CHECK(valueIn(env, "OMPI_MCA_btl_tcp_if_include") == "lo");
  CHECK(valueIn(env, "HOME") == "/home/berthtest");
  CHECK_FALSE(valueIn(env, "EDITOR"));           // other host variables stay out
  CHECK(valueIn(env, "LANG") == "en_US.UTF-8");  // the image's value
  CHECK(valueIn(env, "SHARED") == "from-image");
  CHECK(valueIn(env, "APP_HOME") == "/opt/app");
  CHECK(std::count_if(env.begin(), env.end(), [](auto& e) { return e.rfind("PATH=", 0) == 0; }) ==
        1);
}

TEST_CASE("task environment: --container-env names take the host value") {
  std::vector<std::string> host{"LANG=C.UTF-8", "EDITOR=vim", "SHARED=from-host"};
  std::vector<std::string> image{"LANG=en_US.UTF-8", "SHARED=from-image"};
  auto env = applyEnvironmentChanges(
      host, taskEnvironmentChanges(host, image, {"SHARED", "EDITOR", "NOT_ON_HOST"}));
  CHECK(valueIn(env, "SHARED") == "from-host");
  CHECK(valueIn(env, "EDITOR") == "vim");
  CHECK(valueIn(env, "LANG") == "en_US.UTF-8");
  CHECK_FALSE(valueIn(env, "NOT_ON_HOST"));
}

TEST_CASE("task environment: an image without PATH gets the usual one") {
  auto env =
      applyEnvironmentChanges({"PATH=/host"}, taskEnvironmentChanges({"PATH=/host"}, {}, {}));
  CHECK(valueIn(env, "PATH") == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

TEST_CASE("task environment: changes are minimal") {
  std::vector<std::string> host{"SLURM_JOB_ID=5", "FOO=1"};
  auto changes = taskEnvironmentChanges(host, {"PATH=/bin"}, {});
  CHECK(changes.unset == std::vector<std::string>{"FOO"});
  REQUIRE(changes.set.size() == 1);
  CHECK(changes.set[0] == std::pair<std::string, std::string>{"PATH", "/bin"});
}

TEST_CASE("--container-env: names checked, host-only variables refused") {
  auto names = parseEnvironmentNames("FOO, BAR_2");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"FOO", "BAR_2"});
  CHECK(parseEnvironmentNames("2X").error().message() ==
        "--container-env: `2X` is not a variable name");
  CHECK(parseEnvironmentNames("A,,B").error().message() ==
        "--container-env: `` is not a variable name");
  CHECK(parseEnvironmentNames("LD_PRELOAD")
            .error()
            .message()
            .rfind("--container-env: the host's LD_PRELOAD never enters the container", 0) == 0);
}
