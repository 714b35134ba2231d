// Options of the container runtime: the site's (berth.conf, docs/admin-runtime.md) and the
// user's (command line / SPANK options).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "shared/container/mount_spec.hpp"

namespace berth::container {

// Site settings (config::runtimeConfigFor). Each field names its berth.conf key.
struct RuntimeConfig {
  // staging_dir: where the root is assembled inside the private mount namespace
  // (privileged mode; invisible outside it). Unprivileged mode uses a fresh directory in /tmp.
  std::filesystem::path stagingDir = "/run/berth";
  // writable_size: size= of the tmpfs that holds a writable image's changes.
  std::string overlaySize = "1g";
  // default_mounts: binds every container gets (SRC[:DST[:ro|rw]] list).
  std::vector<MountSpec> defaultBinds;
  // host_files: host files bound read-only when present.
  std::vector<std::string> hostFiles = {"/etc/hosts", "/etc/resolv.conf", "/etc/localtime"};
  // allow_unprivileged: let non-root users run containers in a user namespace.
  bool allowUnprivileged = true;
  // allow_fakeroot: let users be root inside a container in a user namespace mapped to their
  // own ids (--fakeroot, --container-remap-root; identity_mode.hpp).
  bool allowFakeroot = true;
  // squashfuse: a FUSE squashfs server program for unprivileged mode (squashfuse_ll's
  // command line); empty: berth serves the image itself with libsquashfuse.
  std::filesystem::path squashfuse;
};

// Per-container choices of the user.
struct ContainerOptions {
  std::vector<MountSpec> binds;  // -B/--bind (sources absolute)
  bool writable = false;         // --writable-tmpfs: changes go to a tmpfs and vanish at exit
  std::string overlaySize;       // --overlay-size; empty: the site's
  bool contain = false;          // --contain: private /tmp, /var/tmp, minimal /dev
  bool noHome = false;           // no home bind (berth.conf mount_home, or the user's choice)
  // --container-workdir / --pwd (absolute): made in the container's own layer when missing.
  std::string workdir;
};

// How a face names the user's choices in the library's messages: the library names the item,
// each face supplies its own words for it (its flag names). The defaults name no face.
struct ItemNames {
  std::string bind = "bind";        // a user's bind: "bind /a:/b: ..."
  std::string workdir = "workdir";  // the requested working directory
};

}  // namespace berth::container
