#include "shared/container/executor.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shared/container/mount_point.hpp"
#include "shared/container/passwd.hpp"
#include "shared/container/scaffold.hpp"
#include "shared/container/squashfs_server.hpp"
#include "shared/convert/image_files.hpp"
#include "shared/sys/loop_device.hpp"
#include "shared/sys/mount.hpp"
#include "shared/sys/resolve.hpp"

namespace berth::container {
namespace {

namespace fs = std::filesystem;

// Every mount made by this executor, detached newest first unless the set-up succeeds.
class MountStack {
 public:
  MountStack() = default;
  MountStack(const MountStack&) = delete;
  MountStack& operator=(const MountStack&) = delete;
  ~MountStack() {
    if (committed_)
      return;
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it)
      ::umount2(it->c_str(), MNT_DETACH);
  }
  void push(fs::path path) { mounts_.push_back(std::move(path)); }
  void commit() { committed_ = true; }

 private:
  std::vector<fs::path> mounts_;
  bool committed_ = false;
};

// A bind source opened and cloned before anything is mounted: the staging area may be mounted
// over a host path that is also bound (unprivileged mode stages in /tmp), and a clone taken
// later would carry it along as a sub-mount.
struct OpenedSource {
  UniqueFd fd;
  UniqueFd tree;  // the detached copy that gets attached
  bool isDirectory = false;
  bool present = true;
};

sys::MountAttributes bindAttributes(const MountOp& op) {
  sys::MountAttributes attributes;
  attributes.readOnly = op.readOnly;
  attributes.noDev = !op.allowDevices;
  return attributes;
}

// `user`: whose permissions the source is opened with, when the op says so; none in a user
// namespace, where the process is the user on the host already (root inside, in a root mode).
Result<OpenedSource> openSource(const MountOp& op, const sys::Identity* user) {
  std::optional<sys::FsIdentityScope> scope;
  if (op.checkAsUser && user) {
    BERTH_ASSIGN(auto assumed, sys::FsIdentityScope::assume(*user));
    scope.emplace(std::move(assumed));
  }
  OpenedSource source;
  source.fd =
      UniqueFd(::open(op.source.c_str(), O_PATH | O_CLOEXEC | (op.device ? O_NOFOLLOW : 0)));
  if (!source.fd) {
    if (errno == ENOENT && op.optional) {
      source.present = false;
      return source;
    }
    return errnoError(fmt::format("{}: source `{}`", op.origin, op.source));
  }
  struct stat st {};
  if (::fstat(source.fd.get(), &st) != 0)
    return errnoError(fmt::format("{}: stat `{}`", op.origin, op.source));
  source.isDirectory = S_ISDIR(st.st_mode);
  if (op.device && (!S_ISCHR(st.st_mode) || ::major(st.st_rdev) != op.device->first ||
                    ::minor(st.st_rdev) != op.device->second))
    return Error(fmt::format("{}: `{}` is not the character device {}:{}: refusing to bind it",
                             op.origin, op.source, op.device->first, op.device->second));
  // O_PATH needs only search permission on the parents: also check that the user may read it
  // (and enter it, for a directory), with the file-system identity set above.
  if (op.checkAsUser && ::faccessat(source.fd.get(), "", R_OK | (source.isDirectory ? X_OK : 0),
                                    AT_EMPTY_PATH | AT_EACCESS) != 0)
    return errnoError(fmt::format("{}: source `{}`", op.origin, op.source));
  BERTH_ASSIGN(source.tree, sys::cloneTree(source.fd.get(), op.recursive, bindAttributes(op))
                                .withContext(fmt::format("{}: `{}`", op.origin, op.source)));
  return source;
}

// What the mount point of `op` is: a directory or a file (none: the op makes no mount point).
std::optional<sys::NodeKind> mountPointKind(const MountOp& op, const OpenedSource& source) {
  switch (op.kind) {
    case MountOpKind::kBind:
      if (!source.present)
        return std::nullopt;
      return source.isDirectory ? sys::NodeKind::kDirectory : sys::NodeKind::kFile;
    case MountOpKind::kPasswd:
    case MountOpKind::kGroup:
      return sys::NodeKind::kFile;
    case MountOpKind::kDirectory:
      return sys::NodeKind::kDirectory;
    case MountOpKind::kTmpfs:
    case MountOpKind::kSymlink:
      break;
  }
  return std::nullopt;
}

struct Staging {
  fs::path dir;
  fs::path lower() const { return dir / "lower"; }
  fs::path upper() const { return dir / "upper"; }
  fs::path work() const { return dir / "work"; }
  fs::path root() const { return dir / "root"; }
  fs::path files() const { return dir / "files"; }
  fs::path scaffold() const { return dir / "scaffold"; }
};

Status makeDir(const fs::path& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
    return errnoError(fmt::format("create `{}`", path.string()));
  return okStatus();
}

// The site's own FUSE server program (berth.conf `squashfuse`), squashfuse_ll's command line:
// the image and the connection as /dev/fd/N, libfuse's convention for a pre-mounted fd.
Result<sys::ChildProcess> startSquashfuseProgram(const fs::path& program, int imageFd, int fuseFd) {
  std::string image = fmt::format("/dev/fd/{}", imageFd);
  std::string connection = fmt::format("/dev/fd/{}", fuseFd);
  pid_t pid = ::fork();
  if (pid < 0)
    return errnoError(fmt::format("start `{}`", program.string()));
  if (pid == 0) {
    // The image and the connection stay open across exec; everything else closes.
    for (int fd : {imageFd, fuseFd})
      ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) & ~FD_CLOEXEC);
    const char* argv[] = {program.c_str(), "-f", image.c_str(), connection.c_str(), nullptr};
    ::execv(program.c_str(), const_cast<char**>(argv));
    ::_exit(127);
  }
  return sys::ChildProcess(pid);
}

// The squashfs `imageFd` through a loop device, read-only, nosuid, nodev, on `target`.
Status mountSquashfsFile(int imageFd, const fs::path& target) {
  BERTH_ASSIGN(sys::LoopDevice loop, sys::attachLoopDevice(imageFd));
  return sys::mountFilesystem(loop.path, target, "squashfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "");
}

// Mounts the image read-only on staging.lower(); `imageFd` is the squashfs file, or the
// detached clone of a sandbox directory.
Status mountImage(const MountPlan& plan, const Staging& staging, int imageFd, MountStack& mounts,
                  sys::ChildProcess& server) {
  if (plan.image.kind == ImageKind::kDirectory) {
    UniqueFd lowerFd(::open(staging.lower().c_str(), O_PATH | O_CLOEXEC));
    if (!lowerFd)
      return errnoError("open staging directory");
    BERTH_TRY(sys::attachMount(imageFd, lowerFd.get()).withContext("mount sandbox image"));
    mounts.push(staging.lower());
    return okStatus();
  }
  if (plan.unprivileged) {
    // FUSE: we mount the connection ourselves (we hold the capability in our namespace) and
    // serve it from a child; our copy of the connection closes on return, so should the server
    // die, accesses fail instead of hanging.
    UniqueFd fuse(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
    if (!fuse)
      return errnoError("open /dev/fuse (unprivileged mode needs FUSE)");
    std::string options = fmt::format("fd={},rootmode=40000,user_id={},group_id={}", fuse.get(),
                                      ::getuid(), ::getgid());
    BERTH_TRY(sys::mountFilesystem("berth-image", staging.lower(), "fuse.squashfuse",
                                   MS_RDONLY | MS_NOSUID | MS_NODEV, options));
    mounts.push(staging.lower());
    if (plan.squashfuse.empty()) {
      BERTH_ASSIGN(server, serveSquashfs(imageFd, fuse.get()));
    } else {
      BERTH_ASSIGN(server, startSquashfuseProgram(plan.squashfuse, imageFd, fuse.get()));
    }
    return okStatus();
  }
  BERTH_TRY(mountSquashfsFile(imageFd, staging.lower()));
  mounts.push(staging.lower());
  return okStatus();
}

Status writeGenerated(const fs::path& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd)
    return errnoError(fmt::format("create `{}`", path.string()));
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    return errnoError(fmt::format("write `{}`", path.string()));
  return okStatus();
}

// The content of a generated passwd or group file.
Result<std::string> generatedContent(const MountOp& op, int rootFd, const std::string& path,
                                     const sys::Identity& user) {
  auto image = sys::readFileInRoot(rootFd, path);
  std::string content = image.ok() ? std::move(image).value() : std::string();
  if (op.kind == MountOpKind::kGroup)
    return mergeGroup(content, user);
  bool shellExists = sys::openInRoot(rootFd, user.shell, O_PATH).ok();
  return mergePasswd(content, user, shellExists);
}

// A persistent layer (named container) made in a user namespace keeps overlayfs' metadata in
// user.* xattrs (`userxattr`); this file in the layer's directory says so, for the steps after
// to mount it the same way.
constexpr const char* kUserXattrMarker = "userxattr";

bool hasUserXattrMarker(const fs::path& layer) {
  return ::access((layer / kUserXattrMarker).c_str(), F_OK) == 0;
}

// Whether the overlay over `layer` needs `userxattr`: always in a user namespace (a layer made
// without it cannot be taken over: its metadata and owners are root's), else when the layer was
// made in one.
Result<bool> layerUsesUserXattr(const fs::path& layer, bool unprivileged) {
  bool marked = hasUserXattrMarker(layer);
  if (!unprivileged || marked)
    return marked;
  if (::access((layer / "upper").c_str(), F_OK) == 0)
    return Error(
        "this container's layer was made without root inside; it cannot be reused with root "
        "inside (start a new one)");
  BERTH_TRY(writeGenerated(layer / kUserXattrMarker, ""));
  return true;
}

}  // namespace

Status mountSavedView(int imageFd, const fs::path& layer, const fs::path& lower,
                      const fs::path& merged) {
  // Its files belong to the host ids root inside mapped to (the user's, subordinate ones): they
  // would have to be mapped back first.
  if (hasUserXattrMarker(layer))
    return Error(
        "saving a container changed with root inside a user namespace is not supported yet");
  BERTH_TRY(mountSquashfsFile(imageFd, lower));
  // Read-only, without upper: the layer's whiteouts and opaque directories still apply.
  return sys::mountFilesystem(
      "berth-save", merged, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV,
      fmt::format("lowerdir={}:{}", (layer / "upper").string(), lower.string()));
}

Result<sys::ChildProcess> executeMountPlan(const MountPlan& plan, const sys::Identity& user) {
  Staging staging{plan.stagingDir};
  // 1. Open every host path first: checked with the user's identity, and before the staging
  //    area can hide any of them. In a user namespace the process is the user on the host
  //    already (even as root inside).
  const sys::Identity* checkAs = plan.unprivileged ? nullptr : &user;
  UniqueFd imageFd;
  {
    std::optional<sys::FsIdentityScope> scope;
    if (checkAs) {
      BERTH_ASSIGN(auto assumed, sys::FsIdentityScope::assume(*checkAs));
      scope.emplace(std::move(assumed));
    }
    int flags = plan.image.kind == ImageKind::kDirectory ? O_PATH | O_DIRECTORY : O_RDONLY;
    imageFd = UniqueFd(::open(plan.image.path.c_str(), flags | O_CLOEXEC));
    if (!imageFd)
      return errnoError(fmt::format("open image `{}`", plan.image.path.string()));
  }
  if (plan.image.kind == ImageKind::kDirectory) {
    // A sandbox directory is used through a read-only clone of it, taken now (see OpenedSource).
    BERTH_ASSIGN(imageFd, sys::cloneTree(imageFd.get(), true, {.readOnly = !plan.image.inPlace}));
  } else {
    BERTH_TRY(convert::checkSquashfsImage(imageFd.get(), plan.image.path));
  }
  std::vector<OpenedSource> sources(plan.ops.size());
  for (size_t i = 0; i < plan.ops.size(); ++i)
    if (plan.ops[i].kind == MountOpKind::kBind) {
      BERTH_ASSIGN(sources[i], openSource(plan.ops[i], checkAs));
    }

  // 2. The root: a tmpfs for the overlay's upper layer and generated files, the image, the
  //    overlay. Nothing propagates to the host: the caller made the namespace private.
  MountStack mounts;
  sys::ChildProcess server;  // declared after `mounts`: stopped before they are detached
  if (!plan.unprivileged)
    BERTH_TRY(makeDir(staging.dir, 0700));
  BERTH_TRY(sys::mountFilesystem("berth", staging.dir, "tmpfs", MS_NOSUID | MS_NODEV,
                                 fmt::format("mode=0755,size={}", plan.overlaySize)));
  mounts.push(staging.dir);
  for (const auto& dir :
       {staging.lower(), staging.upper(), staging.work(), staging.root(), staging.files()})
    BERTH_TRY(makeDir(dir, 0755));
  for (const std::string& dir : plan.upperDirs) {
    fs::path path = staging.upper();
    for (const auto& part : fs::path(dir).relative_path()) {
      path /= part;
      BERTH_TRY(makeDir(path, 0755));
    }
  }
  BERTH_TRY(mountImage(plan, staging, imageFd.get(), mounts, server).withContext("mount image"));
  if (plan.unprivileged) {
    UniqueFd lowerFd(::open(staging.lower().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!lowerFd)
      return errnoError("open the mounted image");
    std::vector<std::optional<sys::NodeKind>> kinds(plan.ops.size());
    for (size_t i = 0; i < plan.ops.size(); ++i)
      kinds[i] = mountPointKind(plan.ops[i], sources[i]);
    BERTH_TRY(makeMountPointsInUpper(plan, lowerFd.get(), staging.upper(), kinds));
  }
  std::string lowers = staging.lower().string();
  if (!plan.scaffold.empty()) {
    UniqueFd lowerFd(::open(staging.lower().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!lowerFd)
      return errnoError("open the mounted image");
    BERTH_TRY(makeDir(staging.scaffold(), 0755));
    BERTH_ASSIGN(bool made, makeScaffold(plan.scaffold, lowerFd.get(), staging.scaffold()));
    if (made)
      lowers = staging.scaffold().string() + ":" + lowers;
  }
  fs::path upper = staging.upper();
  fs::path work = staging.work();
  bool userXattr = plan.unprivileged;
  if (plan.persistentLayer) {
    BERTH_ASSIGN(userXattr, layerUsesUserXattr(*plan.persistentLayer, plan.unprivileged));
    upper = *plan.persistentLayer / "upper";
    work = *plan.persistentLayer / "work";
    BERTH_TRY(makeDir(upper, 0755));
    BERTH_TRY(makeDir(work, 0700));
  }
  std::string overlay =
      fmt::format("lowerdir={},upperdir={},workdir={}", lowers, upper.string(), work.string());
  if (userXattr)
    overlay += ",userxattr";
  if (plan.image.inPlace)  // a sandbox changed in place: the directory itself is the root
    BERTH_TRY(
        sys::mountFilesystem(staging.lower().string(), staging.root(), "", MS_BIND | MS_REC, "")
            .withContext("mount sandbox"));
  else
    BERTH_TRY(sys::mountFilesystem("berth-root", staging.root(), "overlay", MS_NOSUID | MS_NODEV,
                                   overlay));
  mounts.push(staging.root());
  UniqueFd rootFd(::open(staging.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootFd)
    return errnoError("open container root");
  struct stat rootStat {};
  if (::fstat(rootFd.get(), &rootStat) != 0)
    return errnoError("stat container root");
  // Nothing is made in a sandbox changed in place (mount_point.hpp): only in the plan's tmpfs.
  CreatableDevices creatable;
  if (!plan.image.inPlace)
    creatable.push_back(rootStat.st_dev);

  // 3. The plan's mounts, in order.
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const MountOp& op = plan.ops[i];
    switch (op.kind) {
      case MountOpKind::kBind: {
        if (!sources[i].present)
          continue;
        BERTH_ASSIGN(MountPoint target, mountPoint(rootFd.get(), creatable, op,
                                                   *mountPointKind(op, sources[i]), plan));
        if (!target.fd)
          continue;
        BERTH_TRY(sys::attachMount(sources[i].tree.get(), target.fd.get()).withContext(op.origin));
        mounts.push(staging.root() / target.path.substr(1));
        break;
      }
      case MountOpKind::kTmpfs: {
        BERTH_ASSIGN(MountPoint target,
                     mountPoint(rootFd.get(), creatable, op, sys::NodeKind::kDirectory, plan));
        if (!target.fd)
          continue;
        BERTH_TRY(sys::mountFilesystem("tmpfs", sys::fdPath(target.fd.get()), "tmpfs",
                                       MS_NOSUID | MS_NODEV, op.data)
                      .withContext(op.origin));
        mounts.push(staging.root() / target.path.substr(1));
        struct stat st {};
        BERTH_ASSIGN(UniqueFd mounted, sys::openInRoot(rootFd.get(), target.path, O_PATH));
        if (::fstat(mounted.get(), &st) == 0)
          creatable.push_back(st.st_dev);
        break;
      }
      case MountOpKind::kDirectory: {
        // Only when missing as the container sees it (the image's symlinks followed inside).
        if (sys::openInRoot(rootFd.get(), op.target, O_PATH).ok())
          break;
        BERTH_TRY(mountPoint(rootFd.get(), creatable, op, sys::NodeKind::kDirectory, plan));
        break;
      }
      case MountOpKind::kSymlink: {
        fs::path target(op.target);
        BERTH_ASSIGN(UniqueFd parent,
                     sys::openOrCreateInRoot(rootFd.get(), target.parent_path().string(),
                                             sys::NodeKind::kDirectory));
        if (::symlinkat(op.source.c_str(), parent.get(), target.filename().c_str()) != 0 &&
            errno != EEXIST)
          return errnoError(fmt::format("{}: create symlink", op.origin));
        break;
      }
      case MountOpKind::kPasswd:
      case MountOpKind::kGroup: {
        // The mount point first: it says where a symlinked /etc/passwd really is.
        BERTH_ASSIGN(MountPoint target,
                     mountPoint(rootFd.get(), creatable, op, sys::NodeKind::kFile, plan));
        if (!target.fd)
          continue;
        BERTH_ASSIGN(std::string content, generatedContent(op, rootFd.get(), target.path, user));
        fs::path file = staging.files() / fs::path(op.target).filename();
        BERTH_TRY(writeGenerated(file, content));
        UniqueFd source(::open(file.c_str(), O_PATH | O_CLOEXEC));
        if (!source)
          return errnoError(fmt::format("open `{}`", file.string()));
        BERTH_ASSIGN(UniqueFd tree, sys::cloneTree(source.get(), false, {.readOnly = true}));
        BERTH_TRY(sys::attachMount(tree.get(), target.fd.get()).withContext(op.origin));
        mounts.push(staging.root() / target.path.substr(1));
        break;
      }
    }
  }

  // 4. Read-only root unless the user asked for a writable one; then enter it.
  if (!plan.writable) {
    UniqueFd root(::open(staging.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    BERTH_TRY(sys::setMountAttributes(root.get(), false, {.readOnly = true})
                  .withContext("make the root read-only"));
  }
  BERTH_TRY(sys::pivotRootAndDetach(staging.root()));
  mounts.commit();
  return server;
}

}  // namespace berth::container
