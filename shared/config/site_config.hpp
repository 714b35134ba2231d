// SiteConfig: the site's settings for berth, shared by the SPANK plugin and the `berth` tool.
//
// Read from berth.conf (`key = value` lines, `#` comments, strict: an unknown key, a bad value
// or a repeated single-valued key is an error naming FILE:LINE). The plugin may override keys
// from its plugstack.conf arguments with the same names (applySetting).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/config/inject_sets.hpp"
#include "shared/container/identity_mode.hpp"
#include "shared/convert/image_limits.hpp"
#include "shared/core/result.hpp"
#include "shared/slurm/env_preset.hpp"

namespace berth::config {

// A pull-through cache for one registry: pulls of `registry` go to `mirror` first.
struct RegistryMirror {
  std::string registry;  // as in references: docker.io, quay.io, 127.0.0.1:5000
  std::string mirror;    // host[:port] or URL (http:// only if listed as insecure)
  bool operator==(const RegistryMirror&) const = default;
};

struct SiteConfig {
  // Where images live (site-wide, often on a shared filesystem; written only by berth as root).
  std::filesystem::path imageCache = "/var/cache/berth";
  // Who besides root may own the site cache (name or uid): the service account that writes it
  // where root is squashed on the shared filesystem. Empty: root only.
  std::string cacheOwner;
  // Node-local state of running containers (named containers, per job); keyed by node name.
  std::filesystem::path stateDir = "/run/berth-containers";
  // Binds added to every container, in --container-mounts syntax (SRC[:DST[:FLAGS]]).
  std::vector<std::string> defaultMounts;
  // Defaults of the on/off options when the user gives neither form.
  bool writable = false;
  bool mountHome = true;
  bool entrypoint = false;
  // Whether users may run squashfs files from paths they name (not only the cache).
  bool allowUserImages = true;
  // Registries reached over plain HTTP (host[:port]).
  std::vector<std::string> insecureRegistries;
  std::vector<RegistryMirror> registryMirrors;
  // A PEM file of CA certificates trusted for registries' HTTPS besides the system store
  // (registries whose certificates a private CA signed). Empty: the system store only.
  std::filesystem::path registryCaFile;
  // Extra directories searched for the NVIDIA driver's user-space libraries.
  std::vector<std::filesystem::path> gpuLibraryDirs;
  // Tests and debugging: look for the NVIDIA driver (version file, ld.so.cache, dev/, proc/)
  // under this directory instead of the host's (the test bed's fake driver tree). Empty: /.
  std::filesystem::path gpuDriverRoot;
  // zstd level of images written by berth (1..22).
  int zstdLevel = 3;
  // Remove setuid/setgid bits of image files at conversion (kept by default, faithful to the
  // image; inert at run time: images are mounted nosuid).
  bool stripSetuid = false;
  // What one image may hold (convert::ImageLimits): layers, tar entries and uncompressed file
  // data of all layers together; an image beyond one is refused at its pull.
  convert::ImageLimits imageLimits{};
  // How long a pull (or waiting for another node's pull) may take before the step fails.
  std::chrono::seconds pullTimeout{600};
  // Size of the tmpfs upper layer of writable containers (mount option syntax: 1G, 50%).
  std::string writableSize = "50%";
  // The container runtime (berth run/exec and the plugin): where a root is assembled inside
  // the private namespace, host files bound read-only when present, whether non-root users
  // may run containers in a user namespace, and the FUSE squashfs server they use.
  std::filesystem::path stagingDir = "/run/berth";
  std::vector<std::string> hostFiles = {"/etc/hosts", "/etc/resolv.conf", "/etc/localtime"};
  bool allowUnprivileged = true;
  // Root inside a container in a user namespace mapped to the user's own ids (--fakeroot,
  // --container-remap-root, unprivileged builds), and how it maps when the user says nothing.
  bool allowFakeroot = true;
  container::UsernsChoice buildUserns = container::UsernsChoice::kAuto;
  // `berth build`: whether users may build, and where steps keep their layers while the build
  // runs (node-local disk; empty: $TMPDIR, else /tmp).
  bool allowBuild = true;
  std::filesystem::path buildDir;
  std::filesystem::path squashfuse;  // empty: the built-in server (libsquashfuse)
  // Host variables that never enter a container, besides PATH, LD_LIBRARY_PATH, LD_PRELOAD
  // and LD_AUDIT (shared/container/environment.cpp's table).
  std::vector<std::string> hostOnlyEnv;
  // The environment preset of containerized steps when the user names none
  // (--container-env-preset): kNone, or kPyTorch for MASTER_ADDR, RANK, ... everywhere.
  slurm::EnvPreset envPreset = slurm::EnvPreset::kNone;
  // The host's Slurm client (srun, sbatch, scontrol, ...) inside containerized batch scripts
  // (slurm/host_client.hpp), and the host paths it needs at their own place besides Slurm's
  // plugins, configuration and munge (the PMIx library that mpi/pmix loads by absolute path).
  bool hostSlurm = true;
  std::vector<std::filesystem::path> hostSlurmPaths;
  // Inject sets (inject.NAME.FIELD keys; inject_sets.hpp), in the order declared.
  std::vector<InjectSet> injectSets;
};

enum class SettingKind { kPath, kBool, kInt, kDuration, kList, kSize, kString };

// One key of berth.conf: its name, what it takes and one line of help (used by the docs test).
struct SettingSpec {
  std::string_view key;
  SettingKind kind;
  std::string_view help;
};

// Every key berth.conf accepts.
std::span<const SettingSpec> settingTable();

// Sets `key` to `value` (list keys append comma-separated items). Unknown keys and values that
// do not parse are errors ("unknown key `x`", "zstd_level: `40` is not in 1..22").
Status applySetting(SiteConfig& config, std::string_view key, std::string_view value);

// Parses berth.conf text; `origin` (the file name) prefixes error messages as ORIGIN:LINE.
Result<SiteConfig> parseSiteConfig(std::string_view text, std::string_view origin);

// Reads and parses one file. A missing file is an error unless `missingIsDefault`. As root, a
// file that anyone but root could change (the file or a directory above it) is refused.
Result<SiteConfig> loadSiteConfig(const std::filesystem::path& path, bool missingIsDefault);

inline constexpr std::string_view kDefaultConfigPath = "/etc/berth/berth.conf";
// A berth.conf must be a regular file of at most this size (a device or a directory named by
// $BERTH_CONFIG is an error, never a hang or an empty configuration).
inline constexpr size_t kMaxConfigSize = 1 << 20;

// The file in effect: $BERTH_CONFIG when set (it must exist), else /etc/berth/berth.conf
// (missing = built-in defaults). `getenv` is injected so slurmstepd can pass its own.
Result<SiteConfig> loadDefaultSiteConfig(
    const std::function<std::optional<std::string>(std::string_view)>& getenv);

}  // namespace berth::config
