// The environment table (shared/container/environment.hpp), rule by rule, for both faces.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "shared/container/environment.hpp"

using namespace berth;
using namespace berth::container;

namespace {

// The value of `name` in `env`, or "<unset>".
std::string valueOf(const EnvList& env, std::string_view name) {
  const std::string* entry = findEnv(env, name);
  return entry ? entry->substr(name.size() + 1) : std::string("<unset>");
}

const EnvList kHost{"PATH=/host/bin",
                    "LD_LIBRARY_PATH=/host/lib",
                    "LD_PRELOAD=/host/evil.so",
                    "LD_AUDIT=/host/audit.so",
                    "SLURM_PROCID=3",
                    "SLURMD_NODENAME=n1",
                    "PMIX_RANK=3",
                    "PMI_FD=5",
                    "OMPI_MCA_btl_tcp_if_include=lo",
                    "HOME=/home/u",
                    "USER=u",
                    "LOGNAME=u",
                    "TERM=xterm",
                    "TMPDIR=/tmp/job5",
                    "OMP_NUM_THREADS=8",
                    "NCCL_DEBUG=INFO",
                    "LANG=C.UTF-8",
                    "SHARED=from-host"};
const EnvList kImage{"PATH=/opt/app/bin:/usr/bin",
                     "LANG=en_US.UTF-8",
                     "SHARED=from-image",
                     "APP_HOME=/opt/app",
                     "HOME=/root",
                     "SLURM_PROCID=99",
                     "OMPI_MCA_pml=ucx"};

}  // namespace

TEST_CASE("environment table: roles by name and prefix, site additions") {
  CHECK(environmentRole("PATH") == EnvRole::kHostOnly);
  CHECK(environmentRole("LD_LIBRARY_PATH") == EnvRole::kHostOnly);
  CHECK(environmentRole("LD_PRELOAD") == EnvRole::kHostOnly);
  CHECK(environmentRole("LD_AUDIT") == EnvRole::kHostOnly);
  CHECK(environmentRole("LD_BIND_NOW") == EnvRole::kOrdinary);
  CHECK(environmentRole("PATHX") == EnvRole::kOrdinary);
  CHECK(environmentRole("SLURM_PROCID") == EnvRole::kPerTask);
  CHECK(environmentRole("SLURMD_NODENAME") == EnvRole::kPerTask);
  CHECK(environmentRole("PMIX_RANK") == EnvRole::kPerTask);
  CHECK(environmentRole("PMI_FD") == EnvRole::kPerTask);
  CHECK(environmentRole("OMPI_COMM_WORLD_RANK") == EnvRole::kPerTask);
  CHECK(environmentRole("SLURM") == EnvRole::kOrdinary);
  CHECK(environmentRole("HOME") == EnvRole::kIdentity);
  CHECK(environmentRole("LOGNAME") == EnvRole::kIdentity);
  CHECK(environmentRole("TERM") == EnvRole::kSession);
  CHECK(environmentRole("TMPDIR") == EnvRole::kSession);
  CHECK(environmentRole("OMP_NUM_THREADS") == EnvRole::kOrdinary);
  std::vector<std::string> site{"MODULEPATH"};
  CHECK(environmentRole("MODULEPATH", site) == EnvRole::kHostOnly);
  CHECK(environmentRole("MODULEPATH") == EnvRole::kOrdinary);
  // A site cannot turn the table's rows into something else.
  std::vector<std::string> siteSlurm{"SLURM_PROCID"};
  CHECK(environmentRole("SLURM_PROCID", siteSlurm) == EnvRole::kPerTask);
}

TEST_CASE("rule 1: the host environment passes, host-only names never") {
  auto env = containerEnvironment({}, kHost, {});
  CHECK(valueOf(env, "OMP_NUM_THREADS") == "8");
  CHECK(valueOf(env, "NCCL_DEBUG") == "INFO");
  CHECK(valueOf(env, "SHARED") == "from-host");
  CHECK(valueOf(env, "TERM") == "xterm");
  CHECK(valueOf(env, "LD_LIBRARY_PATH") == "<unset>");
  CHECK(valueOf(env, "LD_PRELOAD") == "<unset>");
  CHECK(valueOf(env, "LD_AUDIT") == "<unset>");
  // No PATH in the image: the usual one, never the host's.
  CHECK(valueOf(env, "PATH") == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  // The host's order is kept, each name once.
  REQUIRE(env.size() >= 2);
  CHECK(env[0] == "SLURM_PROCID=3");

  EnvironmentOptions site;
  site.siteHostOnly = {"NCCL_DEBUG", "LANG"};
  env = containerEnvironment({}, kHost, site);
  CHECK(valueOf(env, "NCCL_DEBUG") == "<unset>");
  CHECK(valueOf(env, "LANG") == "<unset>");
  CHECK(valueOf(env, "OMP_NUM_THREADS") == "8");
  // A host-only name the image sets keeps the image's value.
  env = containerEnvironment({"LANG=image"}, kHost, site);
  CHECK(valueOf(env, "LANG") == "image");
}

TEST_CASE("rule 2: the image's Env wins, except per-task and identity values the host has") {
  auto env = containerEnvironment(kImage, kHost, {});
  CHECK(valueOf(env, "PATH") == "/opt/app/bin:/usr/bin");
  CHECK(valueOf(env, "LANG") == "en_US.UTF-8");
  CHECK(valueOf(env, "SHARED") == "from-image");
  CHECK(valueOf(env, "APP_HOME") == "/opt/app");
  CHECK(valueOf(env, "SLURM_PROCID") == "3");  // the task's rank, not the image's
  CHECK(valueOf(env, "SLURMD_NODENAME") == "n1");
  CHECK(valueOf(env, "PMIX_RANK") == "3");
  CHECK(valueOf(env, "PMI_FD") == "5");
  CHECK(valueOf(env, "OMPI_MCA_btl_tcp_if_include") == "lo");
  CHECK(valueOf(env, "OMPI_MCA_pml") == "ucx");  // the image's tuning where the task has none
  CHECK(valueOf(env, "HOME") == "/home/u");      // the home is bound at its host path
  CHECK(valueOf(env, "OMP_NUM_THREADS") == "8");
  // Each name once; PATH once.
  std::set<std::string> names;
  for (const std::string& entry : env)
    CHECK(names.insert(entry.substr(0, entry.find('='))).second);
  // Without a host HOME, the image's applies.
  env = containerEnvironment({"HOME=/root"}, {"USER=u"}, {});
  CHECK(valueOf(env, "HOME") == "/root");
}

TEST_CASE("rule 3: named variables take the host's value") {
  EnvironmentOptions options;
  options.hostWins = {"SHARED", "LANG", "NOT_ON_HOST", "PATH"};
  auto env = containerEnvironment(kImage, kHost, options);
  CHECK(valueOf(env, "SHARED") == "from-host");
  CHECK(valueOf(env, "LANG") == "C.UTF-8");
  CHECK(valueOf(env, "NOT_ON_HOST") == "<unset>");
  CHECK(valueOf(env, "APP_HOME") == "/opt/app");
  // Naming a host-only variable is the user's explicit choice (pyxis allows it too).
  CHECK(valueOf(env, "PATH") == "/host/bin");
  CHECK(valueOf(env, "LD_PRELOAD") == "<unset>");
}

TEST_CASE("rule 4: --cleanenv keeps the image, per-task, identity and session variables") {
  EnvironmentOptions options;
  options.host = HostEnvironment::kClean;
  auto env = containerEnvironment(kImage, kHost, options);
  CHECK(valueOf(env, "OMP_NUM_THREADS") == "<unset>");
  CHECK(valueOf(env, "NCCL_DEBUG") == "<unset>");
  CHECK(valueOf(env, "LANG") == "en_US.UTF-8");
  CHECK(valueOf(env, "SHARED") == "from-image");
  CHECK(valueOf(env, "PATH") == "/opt/app/bin:/usr/bin");
  CHECK(valueOf(env, "SLURM_PROCID") == "3");
  CHECK(valueOf(env, "PMIX_RANK") == "3");
  CHECK(valueOf(env, "OMPI_MCA_btl_tcp_if_include") == "lo");
  CHECK(valueOf(env, "HOME") == "/home/u");
  CHECK(valueOf(env, "USER") == "u");
  CHECK(valueOf(env, "LOGNAME") == "u");
  CHECK(valueOf(env, "TERM") == "xterm");
  CHECK(valueOf(env, "TMPDIR") == "/tmp/job5");
  CHECK(valueOf(env, "LD_PRELOAD") == "<unset>");
  // Named variables still take the host's value.
  options.hostWins = {"NCCL_DEBUG"};
  env = containerEnvironment(kImage, kHost, options);
  CHECK(valueOf(env, "NCCL_DEBUG") == "INFO");
}

TEST_CASE("face identity and explicit assignments: last word") {
  EnvironmentOptions options;
  options.home = "/home/alice";  // berth exec --as-user alice, run by root
  options.user = "alice";
  options.set = {{"NEW", "1"}, {"SHARED", "cli"}, {"SLURM_PROCID", "7"}};
  EnvList root{"HOME=/root", "USER=root", "LOGNAME=root", "SHARED=from-host"};
  auto env = containerEnvironment(kImage, root, options);
  CHECK(valueOf(env, "HOME") == "/home/alice");
  CHECK(valueOf(env, "USER") == "alice");
  CHECK(valueOf(env, "LOGNAME") == "alice");
  CHECK(valueOf(env, "NEW") == "1");
  CHECK(valueOf(env, "SHARED") == "cli");
  CHECK(valueOf(env, "SLURM_PROCID") == "7");
  // The identity also with an empty host environment and --cleanenv.
  options.host = HostEnvironment::kClean;
  env = containerEnvironment({}, {}, options);
  CHECK(valueOf(env, "HOME") == "/home/alice");
  CHECK(valueOf(env, "USER") == "alice");
}

TEST_CASE("environment: variable name lists") {
  auto names = parseVariableNames("FOO, BAR_2,_x");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"FOO", "BAR_2", "_x"});
  CHECK(parseVariableNames("2X").error().message() == "`2X` is not a variable name");
  CHECK(parseVariableNames("A,,B").error().message() == "`` is not a variable name");
  CHECK(parseVariableNames("A=B").error().message() == "`A=B` is not a variable name");
  CHECK(parseVariableNames("").error().message() == "`` is not a variable name");
  CHECK(parseVariableNames("LD_PRELOAD").ok());
}

TEST_CASE("environment: assignments and env files") {
  auto a = parseEnvAssignment("A=b=c");
  REQUIRE(a.ok());
  CHECK(a->first == "A");
  CHECK(a->second == "b=c");
  CHECK(parseEnvAssignment("A=")->second.empty());
  CHECK_FALSE(parseEnvAssignment("novalue").ok());
  CHECK_FALSE(parseEnvAssignment("1A=x").ok());
  CHECK_FALSE(parseEnvAssignment("A-B=x").ok());
  auto file = parseEnvFile("# comment\n\nA=1\nexport B=two words\n  C=3  \n");
  REQUIRE(file.ok());
  REQUIRE(file->size() == 3);
  CHECK((*file)[1] == std::pair<std::string, std::string>{"B", "two words"});
  CHECK((*file)[2].second == "3");
  auto bad = parseEnvFile("A=1\nnot an assignment\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message().find("line 2") != std::string::npos);
}
