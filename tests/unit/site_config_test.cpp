#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shared/config/site_config.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth::config;

namespace {
std::string errorOf(const berth::Result<SiteConfig>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message();
}
}  // namespace

TEST_CASE("site config: defaults when the file is empty or only comments") {
  auto config = parseSiteConfig("# nothing\n\n   # indented comment\n", "berth.conf");
  REQUIRE(config.ok());
  CHECK(config->imageCache == "/var/cache/berth");
  CHECK(config->mountHome);
  CHECK_FALSE(config->writable);
  CHECK_FALSE(config->entrypoint);
  CHECK(config->allowUserImages);
  CHECK(config->zstdLevel == 3);
  CHECK(config->pullTimeout == std::chrono::seconds(600));
}

TEST_CASE("site config: every key parses") {
  auto config = parseSiteConfig(R"(image_cache = /shared/berth/images
state_dir=/run/berth-state
default_mounts = /scratch, /opt/tools:/tools:ro
default_mounts = /data:/data
writable = yes
mount_home = off
entrypoint = true
allow_user_images = 0
insecure_registries = 127.0.0.1:5000
registry_mirrors = docker.io=mirror.example:5000, quay.io = http://q.example
gpu_library_dirs = /usr/local/nvidia/lib64
zstd_level = 19
strip_setuid = true
max_layers = 200
max_image_entries = 5000000
max_image_size = 64g
pull_timeout = 10m
writable_size = 4g
staging_dir = /run/berth-stage
host_files = /etc/hosts
allow_unprivileged = no
squashfuse = /usr/local/bin/squashfuse_ll
)",
                                "berth.conf");
  REQUIRE(config.ok());
  CHECK(config->imageCache == "/shared/berth/images");
  CHECK(config->stateDir == "/run/berth-state");
  CHECK(config->defaultMounts ==
        std::vector<std::string>{"/scratch", "/opt/tools:/tools:ro", "/data:/data"});
  CHECK(config->writable);
  CHECK_FALSE(config->mountHome);
  CHECK(config->entrypoint);
  CHECK_FALSE(config->allowUserImages);
  CHECK(config->insecureRegistries == std::vector<std::string>{"127.0.0.1:5000"});
  REQUIRE(config->registryMirrors.size() == 2);
  CHECK(config->registryMirrors[0] == RegistryMirror{"docker.io", "mirror.example:5000"});
  CHECK(config->registryMirrors[1] == RegistryMirror{"quay.io", "http://q.example"});
  CHECK(config->gpuLibraryDirs == std::vector<std::filesystem::path>{"/usr/local/nvidia/lib64"});
  CHECK(config->zstdLevel == 19);
  CHECK(config->stripSetuid);
  CHECK(config->imageLimits.layers == 200);
  CHECK(config->imageLimits.entries == 5000000);
  CHECK(config->imageLimits.bytes == int64_t{64} << 30);
  CHECK(config->pullTimeout == std::chrono::seconds(600));
  CHECK(config->writableSize == "4g");
  CHECK(config->stagingDir == "/run/berth-stage");
  CHECK(config->hostFiles == std::vector<std::string>{"/etc/hosts"});
  CHECK_FALSE(config->allowUnprivileged);
  CHECK(config->squashfuse == "/usr/local/bin/squashfuse_ll");
}

TEST_CASE("site config: strict errors name the file and line") {
  CHECK(errorOf(parseSiteConfig("writable = no\nimage_cach = /x\n", "/etc/berth/berth.conf")) ==
        "/etc/berth/berth.conf:2: unknown key `image_cach`");
  CHECK(errorOf(parseSiteConfig("writable\n", "f")) ==
        "f:1: expected `key = value`, got `writable`");
  CHECK(errorOf(parseSiteConfig("writable = maybe\n", "f")) ==
        "f:1: writable: `maybe` is not a boolean (true/false, yes/no, on/off, 1/0)");
  CHECK(errorOf(parseSiteConfig("zstd_level = 40\n", "f")) ==
        "f:1: zstd_level: `40` is not in 1..22");
  CHECK(errorOf(parseSiteConfig("zstd_level = 3x\n", "f")) ==
        "f:1: zstd_level: `3x` is not a number");
  CHECK(errorOf(parseSiteConfig("image_cache = relative/dir\n", "f")) ==
        "f:1: image_cache: `relative/dir` is not an absolute path");
  CHECK(errorOf(parseSiteConfig("mount_home = yes\nmount_home = no\n", "f")) ==
        "f:2: `mount_home` is set twice");
  CHECK(errorOf(parseSiteConfig("registry_mirrors = docker.io\n", "f")) ==
        "f:1: registry_mirrors: `docker.io` is not REGISTRY=MIRROR");
  CHECK(errorOf(parseSiteConfig("default_mounts = /a,,/b\n", "f")) ==
        "f:1: default_mounts: `/a,,/b` has an empty item");
  CHECK(errorOf(parseSiteConfig("pull_timeout = 0\n", "f")) ==
        "f:1: pull_timeout: `0` is not in 1..604800");
  CHECK(errorOf(parseSiteConfig("pull_timeout = 200h\n", "f")) ==
        "f:1: pull_timeout: `200h` is longer than a week");
  CHECK(errorOf(parseSiteConfig("writable_size = lots\n", "f")) ==
        "f:1: writable_size: `lots` is not a size (like 512m, 4g or 50%)");
  CHECK(errorOf(parseSiteConfig("= x\n", "f")) == "f:1: unknown key ``");
}

TEST_CASE("site config: durations and sizes") {
  CHECK(parseSiteConfig("pull_timeout = 90", "f")->pullTimeout == std::chrono::seconds(90));
  CHECK(parseSiteConfig("pull_timeout = 2h", "f")->pullTimeout == std::chrono::seconds(7200));
  CHECK(parseSiteConfig("writable_size = 75%", "f")->writableSize == "75%");
  CHECK(parseSiteConfig("writable_size = 1048576", "f").ok());
}

TEST_CASE("site config: applySetting is what plugstack arguments use") {
  SiteConfig config;
  REQUIRE(applySetting(config, "image_cache", "/x").ok());
  CHECK(config.imageCache == "/x");
  auto bad = applySetting(config, "colour", "blue");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() == "unknown key `colour`");
}

TEST_CASE("site config: loading files and $BERTH_CONFIG") {
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-conf");
  REQUIRE(dir.ok());
  auto missing = dir->path() / "absent.conf";
  CHECK(loadSiteConfig(missing, true).ok());
  auto error = loadSiteConfig(missing, false);
  REQUIRE_FALSE(error.ok());
  CHECK(error.error().message().find("absent.conf`: No such file or directory") !=
        std::string::npos);

  auto file = dir->path() / "berth.conf";
  std::ofstream(file) << "zstd_level = 7\n";
  std::map<std::string, std::string> env{{"BERTH_CONFIG", file.string()}};
  auto getenv = [&](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  auto loaded = loadDefaultSiteConfig(getenv);
  REQUIRE(loaded.ok());
  CHECK(loaded->zstdLevel == 7);
  env["BERTH_CONFIG"] = missing.string();
  auto gone = loadDefaultSiteConfig(getenv);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().message().rfind("$BERTH_CONFIG: read ", 0) == 0);
}

TEST_CASE("site config: the example berth.conf documents every key and parses") {
  // This file is tests/unit/site_config_test.cpp of the source tree.
  std::filesystem::path example =
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
      "slurm_conf_examples/berth.conf";
  std::ifstream file(example);
  REQUIRE_MESSAGE(file.good(), example.string());
  std::stringstream text;
  text << file.rdbuf();
  CHECK(parseSiteConfig(text.str(), example.string()).ok());
  for (const SettingSpec& spec : settingTable()) {
    INFO(spec.key);
    CHECK(text.str().find(fmt::format("# {} =", spec.key)) != std::string::npos);
  }
}

TEST_CASE("site config: only regular files of bounded size are read") {
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-conf");
  REQUIRE(dir.ok());
  std::map<std::string, std::string> env;
  auto getenv = [&](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  // A device would be read forever, a FIFO would wait for a writer, a directory read as empty.
  env["BERTH_CONFIG"] = "/dev/zero";
  CHECK(errorOf(loadDefaultSiteConfig(getenv)).find("`/dev/zero` is not a regular file") !=
        std::string::npos);
  env["BERTH_CONFIG"] = dir->path().string();
  CHECK(errorOf(loadDefaultSiteConfig(getenv)).find("is a directory, not a file") !=
        std::string::npos);
  auto fifo = dir->path() / "fifo.conf";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  env["BERTH_CONFIG"] = fifo.string();
  CHECK(errorOf(loadDefaultSiteConfig(getenv)).find("is not a regular file") != std::string::npos);
  auto huge = dir->path() / "huge.conf";
  std::ofstream(huge) << std::string(kMaxConfigSize + 1, '#');
  env["BERTH_CONFIG"] = huge.string();
  CHECK(errorOf(loadDefaultSiteConfig(getenv)).find("is larger than 1048576 bytes") !=
        std::string::npos);
}

// The checks apply to root only (a user's own berth.conf can only hurt that user); CI runs the
// unit tests as root.
TEST_CASE("site config: as root, a file others could change is refused" *
          doctest::skip(::geteuid() != 0)) {
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-conf");
  REQUIRE(dir.ok());
  REQUIRE(::chmod(dir->path().c_str(), 0755) == 0);
  auto file = dir->path() / "berth.conf";
  std::ofstream(file) << "default_mounts = /home/alice/hostname:/usr/local/bin/hostname\n";
  REQUIRE(::chmod(file.c_str(), 0644) == 0);
  REQUIRE(loadSiteConfig(file, false).ok());  // root's, 0644, in a root 0755 dir below /tmp

  REQUIRE(::chmod(file.c_str(), 0666) == 0);
  std::string message = errorOf(loadSiteConfig(file, false));
  CHECK(message == fmt::format("refusing site configuration `{0}`: only root may be able to "
                               "change it: `{0}` is writable by every user (mode 0666)",
                               file.string()));
  REQUIRE(::chmod(file.c_str(), 0664) == 0);
  CHECK(errorOf(loadSiteConfig(file, false)).find("is writable by group 0 (mode 0664)") !=
        std::string::npos);
  REQUIRE(::chmod(file.c_str(), 0644) == 0);
  REQUIRE(::chown(file.c_str(), 65534, 65534) == 0);
  CHECK(errorOf(loadSiteConfig(file, false)).find("is owned by uid 65534, not by root") !=
        std::string::npos);
  REQUIRE(::chown(file.c_str(), 0, 0) == 0);
  // A directory above that a user can write: the file could be replaced.
  REQUIRE(::chmod(dir->path().c_str(), 0777) == 0);
  CHECK(errorOf(loadSiteConfig(file, false))
            .find(fmt::format("`{}` is writable by every user (mode 0777)",
                              dir->path().string())) != std::string::npos);
  REQUIRE(::chmod(dir->path().c_str(), 0755) == 0);
  REQUIRE(loadSiteConfig(file, false).ok());
}

TEST_CASE("site config: host_only_env adds variable names, repeatable, checked") {
  auto config = parseSiteConfig("host_only_env = MODULEPATH, LOADEDMODULES\nhost_only_env = X_1\n",
                                "berth.conf");
  REQUIRE(config.ok());
  CHECK(config->hostOnlyEnv == std::vector<std::string>{"MODULEPATH", "LOADEDMODULES", "X_1"});
  CHECK(SiteConfig{}.hostOnlyEnv.empty());
  CHECK(errorOf(parseSiteConfig("host_only_env = A,2B\n", "f")) ==
        "f:1: host_only_env: `2B` is not a variable name");
  CHECK(errorOf(parseSiteConfig("host_only_env = A,,B\n", "f")) ==
        "f:1: host_only_env: `A,,B` has an empty item");
  SiteConfig plugstack;
  REQUIRE(applySetting(plugstack, "host_only_env", "SECRET_TOKEN").ok());
  CHECK(plugstack.hostOnlyEnv == std::vector<std::string>{"SECRET_TOKEN"});
}
