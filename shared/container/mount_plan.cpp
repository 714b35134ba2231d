#include "shared/container/mount_plan.hpp"

#include <fmt/format.h>

namespace berth::container {
namespace {

MountOp hostBind(std::string path, std::string origin) {
  MountOp op;
  op.source = path;
  op.target = std::move(path);
  op.origin = std::move(origin);
  return op;
}

MountOp tmpfs(std::string target, std::string data) {
  MountOp op;
  op.kind = MountOpKind::kTmpfs;
  op.target = target;
  op.data = std::move(data);
  op.origin = std::move(target);
  return op;
}

// Device nodes a minimal /dev holds (bound from the host: unprivileged mode cannot mknod).
constexpr const char* kMinimalDevices[] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
};

// Symlinks every /dev has.
constexpr std::pair<const char*, const char*> kDevSymlinks[] = {
    {"/dev/ptmx", "pts/ptmx"},     // the devpts instance's multiplexer
    {"/dev/fd", "/proc/self/fd"},  // bash process substitution
    {"/dev/stdin", "/proc/self/fd/0"},  {"/dev/stdout", "/proc/self/fd/1"},
    {"/dev/stderr", "/proc/self/fd/2"},
};

bool isUnder(const std::string& path, const std::string& dir) {
  if (dir == "/")
    return true;
  return path == dir || (path.starts_with(dir) && path[dir.size()] == '/');
}

}  // namespace

std::vector<MountOp> systemMounts(bool contain, const RuntimeConfig& config) {
  std::vector<MountOp> ops;
  // The host's /proc and /sys (recursive: they carry sub-mounts a user namespace may not
  // uncover); a fresh procfs would need a PID namespace, which tasks of a Slurm step must not
  // have.
  ops.push_back(hostBind("/proc", "/proc"));
  MountOp sys = hostBind("/sys", "/sys");
  sys.readOnly = true;
  ops.push_back(sys);
  if (!contain) {
    MountOp dev = hostBind("/dev", "/dev");
    dev.allowDevices = true;
    ops.push_back(dev);
  } else {
    ops.push_back(tmpfs("/dev", "mode=0755,size=64k"));
    for (const char* device : kMinimalDevices) {
      MountOp op = hostBind(device, device);
      op.allowDevices = true;
      op.recursive = false;
      ops.push_back(op);
    }
    // The host's devpts: the terminal the user started berth from stays a named tty inside
    // (a new devpts instance would not contain it).
    MountOp pts = hostBind("/dev/pts", "/dev/pts");
    pts.allowDevices = true;
    pts.recursive = false;
    ops.push_back(pts);
    for (const auto& [link, text] : kDevSymlinks) {
      MountOp op;
      op.kind = MountOpKind::kSymlink;
      op.source = text;
      op.target = link;
      op.origin = link;
      ops.push_back(op);
    }
    ops.push_back(tmpfs("/dev/shm", "mode=1777"));
  }
  // /tmp and /var/tmp: the host's, as Singularity users expect (mpirun's session directory
  // lives there); private with --contain.
  for (const char* dir : {"/tmp", "/var/tmp"})
    ops.push_back(contain ? tmpfs(dir, "mode=1777") : hostBind(dir, dir));
  for (const auto& file : config.hostFiles) {
    MountOp op = hostBind(file, file);
    op.readOnly = true;
    op.optional = true;
    op.recursive = false;
    ops.push_back(op);
  }
  MountOp passwd;
  passwd.kind = MountOpKind::kPasswd;
  passwd.target = "/etc/passwd";
  passwd.origin = "/etc/passwd";
  ops.push_back(passwd);
  MountOp group = passwd;
  group.kind = MountOpKind::kGroup;
  group.target = group.origin = "/etc/group";
  ops.push_back(group);
  return ops;
}

std::optional<std::string> containerPathOf(const std::string& hostPath,
                                           const std::vector<MountOp>& ops) {
  const MountOp* best = nullptr;
  for (const auto& op : ops) {
    if (op.kind != MountOpKind::kBind || !isUnder(hostPath, op.source))
      continue;
    if (!best || op.source.size() >= best->source.size())
      best = &op;
  }
  if (!best)
    return std::nullopt;
  std::string rest = best->source == "/" ? hostPath : hostPath.substr(best->source.size());
  std::string inside = best->target + rest;
  return inside.empty() ? std::string("/") : inside;
}

Result<MountPlan> buildMountPlan(const PlanInputs& in) {
  MountPlan plan;
  plan.image = in.image;
  plan.writable = in.options.writable;
  plan.overlaySize =
      in.options.overlaySize.empty() ? in.config.overlaySize : in.options.overlaySize;
  bool remapped = in.root && in.root->mode != RootMode::kIdentity;
  plan.unprivileged = in.unprivileged || remapped;
  plan.squashfuse = in.config.squashfuse;
  plan.stagingDir = in.config.stagingDir;
  plan.names = in.names;
  if (in.unprivileged && !in.config.allowUnprivileged)
    return Error(
        "unprivileged containers are disabled on this system (berth.conf allow_unprivileged)");
  if (in.root && in.root->mode == RootMode::kIdentity && in.user.uid != 0)
    return Error("root identity mode: the container's user must be root");
  if (remapped && !in.config.allowFakeroot)
    return Error("root in a user namespace is disabled on this system (berth.conf allow_fakeroot)");
  plan.ops = systemMounts(in.options.contain, in.config);
  if (in.root) {
    // Root's passwd and group entries are the image's: no generated files bound over them,
    // so a package's postinst may add users (useradd replaces /etc/passwd).
    std::erase_if(plan.ops, [](const MountOp& op) {
      return op.kind == MountOpKind::kPasswd || op.kind == MountOpKind::kGroup;
    });
  }
  if (remapped) {
    plan.rootMaps = in.root->maps;
    if (in.root->mode == RootMode::kSingle) {
      plan.scaffold.push_back({.kind = ScaffoldEntry::Kind::kFile,
                               .path = std::string(kAptSandboxFile),
                               .content = std::string(kAptSandboxSetting)});
      for (std::string_view path : kSingleModeRootCopies)
        plan.scaffold.push_back({.kind = ScaffoldEntry::Kind::kRootOwnedCopy,
                                 .path = std::string(path),
                                 .content = {}});
    }
  }
  if (!in.options.noHome && in.user.uid != 0 && !in.user.home.empty() && in.user.home != "/") {
    MountOp home = hostBind(in.user.home.string(), "home");
    home.checkAsUser = true;
    plan.ops.push_back(home);
  }
  auto addBinds = [&](const std::vector<MountSpec>& specs, std::string_view kind,
                      MissingTarget missing) {
    for (const auto& spec : specs) {
      MountOp op;
      op.source = spec.source;
      op.target = spec.destination;
      op.readOnly = spec.readOnly;
      op.checkAsUser = true;
      op.missing = missing;
      op.origin = fmt::format("{} {}:{}{}", kind, spec.source, spec.destination,
                              spec.readOnly ? ":ro" : "");
      plan.ops.push_back(op);
    }
  };
  // Site binds (/scratch, /global/home, ...) must work with every image, as system mounts do:
  // their mount points are made in the overlay. A user's bind into a read-only image needs
  // the mount point to exist (or a writable container).
  addBinds(in.config.defaultBinds, "site bind", MissingTarget::kCreate);
  addBinds(in.options.binds, in.names.bind, MissingTarget::kCreateForUser);
  // The working directory asked for: made like a bind's mount point when it is missing.
  if (!in.options.workdir.empty() && in.options.workdir.front() == '/') {
    MountOp workdir;
    workdir.kind = MountOpKind::kDirectory;
    workdir.target = in.options.workdir;
    workdir.missing = MissingTarget::kCreateForUser;
    workdir.origin = fmt::format("{} {}", in.names.workdir, in.options.workdir);
    plan.ops.push_back(workdir);
  }
  for (const auto& op : plan.ops)
    if (op.kind == MountOpKind::kBind && (op.source.front() != '/' || op.target.front() != '/'))
      return Error(fmt::format("{}: paths must be absolute", op.origin));
  if (!in.hostCwd.empty())
    plan.hostCwdInside = containerPathOf(in.hostCwd, plan.ops);
  return plan;
}

}  // namespace berth::container
