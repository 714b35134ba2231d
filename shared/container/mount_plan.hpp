// The mount plan: the container's set-up as data, built by pure functions from the image, the
// user's options and the site's configuration; executed by executor.hpp.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shared/container/identity_mode.hpp"
#include "shared/container/image_source.hpp"
#include "shared/container/options.hpp"
#include "shared/sys/identity.hpp"
#include "shared/sys/user_namespace.hpp"

namespace berth::container {

enum class MountOpKind {
  kBind,       // bind a host path (file or directory) onto `target`
  kTmpfs,      // a fresh tmpfs on `target`, options in `data`
  kSymlink,    // a symlink `target` -> `source` (minimal /dev: ptmx, fd, stdin, ...)
  kPasswd,     // the image's /etc/passwd plus the user's entry, bound on `target`
  kGroup,      // the image's /etc/group plus the user's primary group, bound on `target`
  kDirectory,  // the directory `target` (the working directory asked for), made when missing;
               // nothing is mounted
};

// What to do when the mount point does not exist in the image. Either way it is made in the
// container's own layer (the overlay's upper directory: a tmpfs, or a named container's
// directory), never in the image, which stays mounted read-only below it (Apptainer#728,
// Shifter#265 ask for this), and never on a host directory bound earlier.
enum class MissingTarget {
  kCreate,         // system mounts: skipped where a user namespace cannot make it
  kCreateForUser,  // the user's binds and working directory: never through a symlink out of
                   // the image; an error where it cannot be made
};

struct MountOp {
  MountOpKind kind = MountOpKind::kBind;
  std::string source;  // kBind: host path; kSymlink: the link's text
  std::string target;  // absolute path inside the container
  bool readOnly = false;
  bool recursive = true;      // kBind: also the mounts below the source
  bool allowDevices = false;  // kBind: keep device nodes usable (the host's /dev)
  bool checkAsUser = false;   // kBind: open the source with the user's identity
  bool optional = false;      // kBind: skip when the source does not exist on the host
  // kBind of a device node (GPUs): the opened source must be this character device
  // (major, minor), checked right before it is bound.
  std::optional<std::pair<unsigned, unsigned>> device;
  MissingTarget missing = MissingTarget::kCreate;
  std::string data;    // kTmpfs: mount options
  std::string origin;  // for messages: "bind /data:/data", "home", "/proc", ...

  bool operator==(const MountOp&) const = default;
};

// An entry of the scaffold: a throw-away layer between the image and the container's own layer
// (BUILD.md; scaffold.hpp makes it). Never part of the container's changes, so never saved.
struct ScaffoldEntry {
  enum class Kind {
    kFile,           // a file with `content`, made only where the image has its directory
    kRootOwnedCopy,  // the image's own file (its content) or directory (empty, merged with the
                     // image's), owned by root here: when the image's is another id's
  };
  Kind kind = Kind::kFile;
  std::string path;  // absolute inside the container
  std::string content;
  bool operator==(const ScaffoldEntry&) const = default;
};

struct MountPlan {
  ImageLocation image;
  bool writable = false;      // user writes allowed (tmpfs upper); else the root is remounted ro
  std::string overlaySize;    // size= of the upper tmpfs
  bool unprivileged = false;  // user namespace + squashfuse instead of loop device
  // Root inside mapped to the user (identity_mode.hpp: subuid or single): the user namespace's
  // maps, written for the helper by the process that asked for the container. Implies
  // `unprivileged`; no passwd/group of ours (the image's own, writable in a writable container).
  std::optional<sys::IdMaps> rootMaps;
  std::vector<ScaffoldEntry> scaffold;
  std::filesystem::path squashfuse;  // empty: the built-in server (squashfs_server.hpp)
  std::filesystem::path stagingDir;
  // When set, the overlay's upper and work directories are DIR/upper and DIR/work on the host
  // (kept after the container: SPANK named containers, --container-save) instead of in the
  // staging tmpfs.
  std::optional<std::filesystem::path> persistentLayer;
  // Read-only overlay layers (host directories) between the scaffold and the image, topmost
  // first: a build's earlier steps.
  std::vector<std::filesystem::path> layersAbove;
  std::vector<MountOp> ops;  // in order, once the root is assembled
  // Directories made in the overlay's upper layer before it is mounted: mount points a user
  // namespace could not create later in the image's root-owned directories (GPU tmpfs).
  std::vector<std::string> upperDirs;
  // Where the command starts when the host's current directory is visible inside (bound).
  std::optional<std::string> hostCwdInside;
  ItemNames names;  // for messages
};

struct PlanInputs {
  ImageLocation image;
  ContainerOptions options;
  RuntimeConfig config;
  sys::Identity user;
  bool unprivileged = false;  // the caller is not root
  // Root inside (--fakeroot, --container-remap-root); empty: the user as themself.
  std::optional<RootMapping> root;
  std::string hostCwd;  // absolute
  ItemNames names;      // how the face names the user's choices in messages
};

[[nodiscard]] Result<MountPlan> buildMountPlan(const PlanInputs& inputs);

// The system mounts: /proc, /sys, /dev, /dev/shm, /tmp, /var/tmp, host files, passwd, group.
std::vector<MountOp> systemMounts(bool contain, const RuntimeConfig& config);

// Where `hostPath` appears inside the container given the binds in `ops` (longest match), if
// it does.
std::optional<std::string> containerPathOf(const std::string& hostPath,
                                           const std::vector<MountOp>& ops);

}  // namespace berth::container
