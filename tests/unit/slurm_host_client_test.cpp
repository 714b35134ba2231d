// The host's Slurm client in a containerized batch script (berth.conf host_slurm): the plan
// (shared/slurm/host_client), the node's facts and wrappers (spank_plugin/host_slurm), the
// slurm.conf keys it reads and the batch script's PATH (task_side).
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "shared/core/temp_dir.hpp"
#include "shared/slurm/host_client.hpp"
#include "shared/slurm/slurmd_paths.hpp"
#include "spank_plugin/host_slurm.hpp"
#include "spank_plugin/remote_side.hpp"
#include "spank_plugin/task_side.hpp"

using berth::slurm::HostBind;

namespace {

berth::slurm::HostSlurmFacts debianFacts() {
  berth::slurm::HostSlurmFacts facts;
  facts.loader = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
  facts.libraryDirs = {"/usr/lib/x86_64-linux-gnu/slurm-wlm", "/usr/lib/x86_64-linux-gnu",
                       "/opt/site/lib"};
  facts.commandDir = "/usr/bin";
  facts.commands = {"srun", "scontrol"};
  facts.slurmConf = "/etc/slurm/slurm.conf";
  facts.samePath = {"/usr/lib/x86_64-linux-gnu/slurm-wlm", "/etc/slurm"};
  facts.mungeDir = "/run/munge";
  return facts;
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("host Slurm client: host trees under the prefix, Slurm's own paths at their place") {
  auto plan = berth::slurm::planHostSlurm(debianFacts());
  CHECK(plan.binDir == "/.berth/host-slurm/bin");
  CHECK(plan.binds ==
        std::vector<HostBind>{
            {"/usr", "/.berth/host-slurm/usr", true},
            {"/opt", "/.berth/host-slurm/opt", true},
            {"/usr/lib/x86_64-linux-gnu/slurm-wlm", "/usr/lib/x86_64-linux-gnu/slurm-wlm", true},
            {"/etc/slurm", "/etc/slurm", true},
            {"/run/munge", "/run/munge", false},
        });
  REQUIRE(plan.wrappers.size() == 2);
  CHECK(plan.wrappers[0].first == "srun");
  CHECK(plan.wrappers[0].second ==
        "#!/bin/sh\n"
        "# berth: the host's srun through the host's loader (berth.conf host_slurm)\n"
        "[ -r \"${SLURM_CONF:-}\" ] || SLURM_CONF='/etc/slurm/slurm.conf'\n"
        "export SLURM_CONF\n"
        "exec '/.berth/host-slurm/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' --inhibit-cache "
        "--library-path '/.berth/host-slurm/usr/lib/x86_64-linux-gnu/slurm-wlm:"
        "/.berth/host-slurm/usr/lib/x86_64-linux-gnu:/.berth/host-slurm/opt/site/lib' "
        "'/.berth/host-slurm/usr/bin/srun' \"$@\"\n");
  CHECK(plan.wrappers[1].first == "scontrol");

  // No configuration file (a client that fetched it): no SLURM_CONF line; quotes survive.
  auto facts = debianFacts();
  facts.slurmConf.clear();
  facts.commandDir = "/opt/it's/bin";
  facts.libraryDirs = {"/"};  // never the host's whole root under the prefix
  plan = berth::slurm::planHostSlurm(facts);
  CHECK(plan.wrappers[0].second.find("SLURM_CONF") == std::string::npos);
  CHECK(plan.wrappers[0].second.find("'/.berth/host-slurm/opt/it'\\''s/bin/srun'") !=
        std::string::npos);
  for (const HostBind& bind : plan.binds)
    CHECK(bind.source != "/");
  CHECK(berth::slurm::underPrefix("/usr/bin/srun") == "/.berth/host-slurm/usr/bin/srun");
}

TEST_CASE("slurm.conf: PluginDir and munge's socket from AuthInfo") {
  auto conf = berth::slurm::parseSlurmConf(
      "PluginDir=/usr/lib64/slurm:/opt/slurm/plugins\n"
      "AuthInfo=ttl=60,socket=/var/run/munge/alt.socket\n");
  CHECK(conf.pluginDir == "/usr/lib64/slurm:/opt/slurm/plugins");
  CHECK(conf.mungeSocket == "/var/run/munge/alt.socket");
  auto none = berth::slurm::parseSlurmConf("ClusterName=x\nAuthInfo=ttl=60\n");
  CHECK(none.pluginDir.empty());
  CHECK(none.mungeSocket.empty());
}

TEST_CASE("host Slurm client on a node: facts found, wrappers written once, shared") {
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-hostslurm");
  REQUIRE(dir.ok());
  auto root = dir->path();
  auto touch = [&](const std::filesystem::path& path, bool executable) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << "x";
    ::chmod(path.c_str(), executable ? 0755 : 0644);
  };
  touch(root / "usr/sbin/slurmstepd", true);
  touch(root / "usr/bin/srun", true);
  touch(root / "usr/bin/sbatch", true);
  touch(root / "usr/bin/squeue", false);  // not executable: no wrapper
  touch(root / "usr/lib/slurm/libslurmfull.so", false);
  touch(root / "usr/lib/ld.so", true);
  touch(root / "usr/lib/slurm/spank_berth.so", false);
  touch(root / "etc/slurm/slurm.conf", false);
  touch(root / "run/munge/munge.socket.2", false);
  std::filesystem::create_directories(root / "opt/pmix");
  berth::spank::HostSlurmSources sources{.slurmstepd = root / "usr/sbin/slurmstepd",
                                         .libslurm = root / "usr/lib/slurm/libslurmfull.so",
                                         .loader = root / "usr/lib/ld.so",
                                         .berthPlugin = root / "usr/lib/slurm/spank_berth.so",
                                         .ldCache = root / "no-ld.so.cache",
                                         .mungeSocket = root / "run/munge/munge.socket.2"};
  berth::config::SiteConfig site;
  site.stateDir = root / "state";
  site.hostSlurmPaths = {root / "opt/pmix"};
  berth::slurm::SlurmdDirPatterns conf;
  auto setup =
      berth::spank::prepareHostSlurm(site, "n1", root / "etc/slurm/slurm.conf", conf, sources);
  REQUIRE(setup.ok());
  CHECK(setup->binDir == "/.berth/host-slurm/bin");
  auto real = std::filesystem::canonical(root);
  std::map<std::string, std::string> binds;
  for (const auto& bind : setup->binds)
    binds[bind.target.string()] = bind.source.string();
  // The tree of the commands and libraries (its first component), under the prefix.
  auto top = *(++real.begin());
  CHECK(binds[(std::filesystem::path("/.berth/host-slurm") / top).string()] == "/" + top.string());
  // Slurm's directory (no PluginDir: libslurm's), the config directory, berth's plugin, the
  // site's path and munge, each at its place.
  for (auto path : {real / "usr/lib/slurm", real / "etc/slurm",
                    real / "usr/lib/slurm/spank_berth.so", real / "opt/pmix", real / "run/munge"})
    CHECK(binds[path.string()] == path.string());
  // The wrappers: srun and sbatch, in STATE_DIR/NODE/host-slurm-HASH, the last bind.
  std::filesystem::path wrappers = setup->binds.back().source;
  CHECK(setup->binds.back().target == "/.berth/host-slurm/bin");
  CHECK(wrappers.parent_path() == root / "state/n1");
  CHECK(wrappers.filename().string().starts_with("host-slurm-"));
  CHECK(std::filesystem::exists(wrappers / "srun"));
  CHECK(std::filesystem::exists(wrappers / "sbatch"));
  CHECK_FALSE(std::filesystem::exists(wrappers / "squeue"));
  struct stat st {};
  REQUIRE(::stat((wrappers / "srun").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0755);
  CHECK(readFile(wrappers / "srun").find((real / "usr/bin/srun").relative_path().string()) !=
        std::string::npos);
  // A second batch step finds them: the same directory, nothing else left behind.
  auto again =
      berth::spank::prepareHostSlurm(site, "n1", root / "etc/slurm/slurm.conf", conf, sources);
  REQUIRE(again.ok());
  CHECK(again->binds.back().source == wrappers);
  CHECK(std::distance(std::filesystem::directory_iterator(root / "state/n1"),
                      std::filesystem::directory_iterator()) == 1);

  // No srun next to slurmstepd: an error naming where it looked.
  std::filesystem::remove(root / "usr/bin/srun");
  auto missing =
      berth::spank::prepareHostSlurm(site, "n1", root / "etc/slurm/slurm.conf", conf, sources);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message().find("no srun in ") == 0);
}

TEST_CASE("host Slurm client: the batch script's PATH ends with it, the image's first") {
  berth::spank::StepState state;
  state.container.emplace();
  state.container->config.env = {"PATH=/opt/app/bin:/usr/bin"};
  state.hostSlurmBin = "/.berth/host-slurm/bin";
  state.workdir = std::filesystem::current_path().string();
  std::map<std::string, std::string> task = {{"PATH", "/host/bin"}, {"SLURM_PROCID", "0"}};
  berth::spank::Environment taskEnv{
      .get = [&](std::string_view n) -> std::optional<std::string> {
        auto it = task.find(std::string(n));
        return it == task.end() ? std::nullopt : std::optional(it->second);
      },
      .set = [&](std::string_view n, std::string_view v) -> berth::Status {
        task[std::string(n)] = std::string(v);
        return berth::okStatus();
      },
      .unset = [&](std::string_view n) -> berth::Status {
        task.erase(std::string(n));
        return berth::okStatus();
      },
      .all =
          [&] {
            std::vector<std::string> all;
            for (const auto& [n, v] : task)
              all.push_back(n + "=" + v);
            return all;
          },
  };
  REQUIRE(berth::spank::prepareTaskEnvironment(state, taskEnv, {}).ok());
  CHECK(task["PATH"] == "/opt/app/bin:/usr/bin:/.berth/host-slurm/bin");
}

TEST_CASE("slurmstepd: only a containerized batch step gets the host client, if the site wants") {
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-hostslurm");
  REQUIRE(dir.ok());
  std::ofstream(dir->path() / "slurm.conf") << "PluginDir=/opt/slurm/lib\n";
  berth::spank::NodeFacts node{.step = {.jobId = 7,
                                        .stepId = berth::slurm::kBatchStep,
                                        .uid = 1001,
                                        .gid = 1001,
                                        .nodeId = 0,
                                        .nodeCount = 1,
                                        .nodeName = "n1",
                                        .hostName = "n1"},
                               .slurmConf = dir->path() / "slurm.conf",
                               .stepEnded = {}};
  std::optional<berth::spank::ContainerRequest> built;
  std::vector<std::string> asked;
  berth::spank::Backend backend;
  backend.ensureImage =
      [](const berth::spank::ImageRequest&) -> berth::Result<std::filesystem::path> {
    return std::filesystem::path("/cache/x.sqsh");
  };
  backend.buildContainer =
      [&](const berth::spank::ContainerRequest& r) -> berth::Result<berth::spank::Container> {
    built = r;
    return berth::spank::Container{};
  };
  backend.hostSlurmClient = [&](std::string_view nodeName, const std::filesystem::path& conf,
                                const berth::slurm::SlurmdDirPatterns& patterns)
      -> berth::Result<berth::spank::HostSlurmSetup> {
    asked.push_back(
        fmt::format("{} {} {}", nodeName, conf.filename().string(), patterns.pluginDir));
    return berth::spank::HostSlurmSetup{.binds = {{"/usr", "/.berth/host-slurm/usr", true}},
                                        .binDir = "/.berth/host-slurm/bin"};
  };
  berth::spank::Environment jobEnv{.get = [](std::string_view name) -> std::optional<std::string> {
                                     if (name == "BERTH_CONTAINER_IMAGE")
                                       return std::string("tiny:latest");
                                     return std::nullopt;
                                   },
                                   .set = {},
                                   .unset = {},
                                   .all = {}};
  berth::Logger quiet([](berth::LogLevel, std::string_view) {}, berth::LogLevel::kDebug);

  berth::spank::StepState batch;
  batch.site.stateDir = dir->path() / "state";
  berth::spank::prepareStep(batch, node, jobEnv, backend, quiet);
  REQUIRE(built);
  CHECK(asked == std::vector<std::string>{"n1 slurm.conf /opt/slurm/lib"});
  REQUIRE(built->hostBinds.size() == 1);
  CHECK(built->hostBinds[0].target == "/.berth/host-slurm/usr");
  CHECK(batch.hostSlurmBin == "/.berth/host-slurm/bin");

  // A step of the job: nothing.
  built.reset();
  berth::spank::StepState step;
  auto stepNode = node;
  stepNode.step.stepId = 0;
  berth::spank::prepareStep(step, stepNode, jobEnv, backend, quiet);
  REQUIRE(built);
  CHECK(built->hostBinds.empty());
  CHECK(step.hostSlurmBin.empty());

  // The site turned it off.
  built.reset();
  berth::spank::StepState off;
  off.site.hostSlurm = false;
  berth::spank::prepareStep(off, node, jobEnv, backend, quiet);
  REQUIRE(built);
  CHECK(built->hostBinds.empty());
  CHECK(asked.size() == 1);

  // Not found on the node: the script runs with the image's commands only.
  backend.hostSlurmClient =
      [](std::string_view, const std::filesystem::path&,
         const berth::slurm::SlurmdDirPatterns&) -> berth::Result<berth::spank::HostSlurmSetup> {
    return berth::Error("no srun in /x/bin");
  };
  built.reset();
  berth::spank::StepState broken;
  berth::spank::prepareStep(broken, node, jobEnv, backend, quiet);
  REQUIRE(built);
  CHECK_FALSE(broken.deferredError);
  CHECK(built->hostBinds.empty());
  CHECK(broken.hostSlurmBin.empty());
}
