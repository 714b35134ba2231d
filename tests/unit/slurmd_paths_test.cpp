#include <doctest/doctest.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "shared/core/temp_dir.hpp"
#include "shared/slurm/slurmd_paths.hpp"

using namespace berth::slurm;

TEST_CASE("slurm.conf: SlurmdSpoolDir and TmpFS, case-insensitive, comments, defaults") {
  auto defaults = parseSlurmConf("ClusterName=x\n");
  CHECK(defaults.spoolDir == "/var/spool/slurmd");
  CHECK(defaults.tmpFs == "/tmp");

  auto patterns = parseSlurmConf(R"(# SlurmdSpoolDir=/commented
ClusterName=berth
slurmdspooldir=/var/tmp/berth-testbed/spool/%n   # per node
TmpFS = "/var/tmp/berth-testbed/tmp/%n"
SlurmdSpoolDir=/second/ignored
NodeName=n1 NodeHostname=n1 NodeAddr=127.0.0.1 Port=17001
)");
  CHECK(patterns.spoolDir == "/var/tmp/berth-testbed/spool/%n");
  CHECK(patterns.tmpFs == "/var/tmp/berth-testbed/tmp/%n");
  CHECK_FALSE(patterns.gpuGres);
}

TEST_CASE("slurm.conf: GresTypes says whether Slurm manages GPUs") {
  CHECK_FALSE(parseSlurmConf("ClusterName=x\n").gpuGres);
  CHECK(parseSlurmConf("GresTypes=gpu\n").gpuGres);
  CHECK(parseSlurmConf("grestypes = mps,gpu  # both\n").gpuGres);
  CHECK_FALSE(parseSlurmConf("GresTypes=mps,shard\n").gpuGres);
  CHECK_FALSE(parseSlurmConf("# GresTypes=gpu\nGresTypes=gpus\n").gpuGres);
}

TEST_CASE("slurm.conf path patterns: %n, %h, %%") {
  CHECK(expandNodePattern("/spool/%n", "n1", "host1") == "/spool/n1");
  CHECK(expandNodePattern("/spool/%h/%n", "n1", "host1") == "/spool/host1/n1");
  CHECK(expandNodePattern("/a%%b/%x/%", "n1", "h") == "/a%b/%x/%");
  CHECK(expandNodePattern("/plain", "n1", "h") == "/plain");
}

TEST_CASE("step host paths: PMIx server and client dirs, batch script") {
  StepIdentity step{.jobId = 42, .stepId = 3, .uid = 1001};
  auto paths = stepHostPaths("/spool/n1", "/tmp/n1", step);
  CHECK(paths.pmixServerDir == "/spool/n1/pmix.42.3");
  CHECK(paths.pmixClientDir == "/tmp/n1/spmix_appdir_1001_42.3");
  CHECK(paths.batchScript.empty());

  step.stepId = kBatchStep;
  auto batch = stepHostPaths("/spool/n1", "/tmp/n1", step);
  CHECK(batch.batchScript == "/spool/n1/job00042/slurm_script");
  step.jobId = 1234567;
  CHECK(stepHostPaths("/s", "/t", step).batchScript == "/s/job1234567/slurm_script");
}

TEST_CASE("step host paths: only existing ones are bound") {
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-pmix");
  REQUIRE(dir.ok());
  StepIdentity step{.jobId = 7, .stepId = 0, .uid = 1001};
  auto paths = stepHostPaths(dir->path() / "spool", dir->path() / "tmp", step);
  CHECK(existingPaths(paths).empty());
  std::filesystem::create_directories(paths.pmixServerDir);
  CHECK(existingPaths(paths) == std::vector<std::filesystem::path>{paths.pmixServerDir});
}

TEST_CASE("slurm.conf: reading a file") {
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-slurmconf");
  REQUIRE(dir.ok());
  std::ofstream(dir->path() / "slurm.conf") << "TmpFS=/scratch/%n\n";
  auto patterns = readSlurmConf(dir->path() / "slurm.conf");
  REQUIRE(patterns.ok());
  CHECK(patterns->tmpFs == "/scratch/%n");
  auto missing = readSlurmConf(dir->path() / "absent");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message().find("absent`: No such file or directory") != std::string::npos);
  CHECK(missing.error().errnum() == ENOENT);
  // Not a regular file: one clear error, no endless read.
  auto device = readSlurmConf("/dev/zero");
  REQUIRE_FALSE(device.ok());
  CHECK(device.error().message().find("not a regular file") != std::string::npos);
}

TEST_CASE("slurm.conf: Include lines, relative, with wildcards, nested, in place") {
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-slurmconf");
  REQUIRE(dir.ok());
  const auto& root = dir->path();
  std::filesystem::create_directories(root / "conf.d");
  std::ofstream(root / "slurm.conf") << "ClusterName=x\n"
                                        "include paths.conf   # relative to slurm.conf\n"
                                        "TmpFS=/ignored/second\n"
                                        "Include conf.d/*.conf\n"
                                        "Include missing.conf\n";
  std::ofstream(root / "paths.conf") << "TmpFS=/scratch/%n\nInclude nested.conf\n";
  std::ofstream(root / "nested.conf") << "SlurmdSpoolDir=/spool/%n\n";
  std::ofstream(root / "conf.d" / "gres.conf") << "GresTypes=gpu\n";
  auto patterns = readSlurmConf(root / "slurm.conf");
  REQUIRE(patterns.ok());
  CHECK(patterns->tmpFs == "/scratch/%n");  // the included line came first
  CHECK(patterns->spoolDir == "/spool/%n");
  CHECK(patterns->gpuGres);
  // Without following them, none of it is seen.
  CHECK_FALSE(parseSlurmConf("Include paths.conf\n").gpuGres);
  CHECK(parseSlurmConf("Include paths.conf\n").tmpFs == "/tmp");
}

TEST_CASE("the node's slurm.conf, found in libslurm's order (configless nodes included)") {
  std::map<std::string, std::string> env;
  std::set<std::string> files;
  auto getenv = [&](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  auto exists = [&](const std::filesystem::path& path) { return files.count(path.string()) != 0; };
  // Nothing anywhere: nothing (never a guessed path).
  CHECK_FALSE(nodeSlurmConfPath(getenv, exists));
  // slurmd's configless link, then the built-in file before it.
  files.insert("/run/slurm/conf/slurm.conf");
  CHECK(nodeSlurmConfPath(getenv, exists) == std::filesystem::path("/run/slurm/conf/slurm.conf"));
  files.insert("/etc/slurm/slurm.conf");
  CHECK(nodeSlurmConfPath(getenv, exists) == std::filesystem::path("/etc/slurm/slurm.conf"));
  // $SLURM_CONF first: in slurmstepd of a configless node, slurmd's conf-cache copy.
  env["SLURM_CONF"] = "/var/spool/slurmd/conf-cache/slurm.conf";
  CHECK(nodeSlurmConfPath(getenv, exists) ==
        std::filesystem::path("/var/spool/slurmd/conf-cache/slurm.conf"));
  env["SLURM_CONF"] = "";
  CHECK(nodeSlurmConfPath(getenv, exists) == std::filesystem::path("/etc/slurm/slurm.conf"));
}
