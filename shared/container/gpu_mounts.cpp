#include "shared/container/gpu_mounts.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <memory>

#include <fmt/format.h>

namespace berth::container {
namespace {

namespace fs = std::filesystem;
using gpu::BindItem;

// Host /dev entries that never pass into a GPU container's private /dev: every NVIDIA node and
// directory (nvidiaN, nvidiactl, nvidia-uvm, nvidia-caps/, nvidia-nvswitchN, ...). The injection
// adds back the verified ones the container is given.
bool isNvidiaEntry(const std::string& name) {
  return name.starts_with("nvidia");
}

MountOp bindOp(const BindItem& item) {
  MountOp op;
  op.kind = MountOpKind::kBind;
  op.source = item.hostPath;
  op.target = item.containerPath;
  op.recursive = false;
  op.origin = fmt::format("GPU {}", item.containerPath);
  switch (item.kind) {
    case BindItem::Kind::kLibrary:
    case BindItem::Kind::kBinary:
      op.readOnly = true;  // nosuid,nodev: MountAttributes' defaults
      break;
    case BindItem::Kind::kDevice:
      op.allowDevices = true;
      op.device = std::make_pair(item.major, item.minor);
      break;
    case BindItem::Kind::kSocket:
    case BindItem::Kind::kDirectory:
      op.readOnly = item.readOnly;
      break;
  }
  return op;
}

}  // namespace

Result<std::vector<HostDevEntry>> listHostDev(const fs::path& dev) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(dev.c_str()), ::closedir);
  if (!dir)
    return errnoError(fmt::format("list `{}`", dev.string()));
  std::vector<HostDevEntry> entries;
  while (struct dirent* entry = ::readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name == "." || name == "..")
      continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir.get()), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      continue;  // vanished meanwhile
    HostDevEntry item{name, HostDevEntry::Kind::kOther, {}};
    if (S_ISDIR(st.st_mode)) {
      item.kind = HostDevEntry::Kind::kDirectory;
    } else if (S_ISLNK(st.st_mode)) {
      item.kind = HostDevEntry::Kind::kSymlink;
      std::string text(PATH_MAX, '\0');
      ssize_t length = ::readlinkat(::dirfd(dir.get()), name.c_str(), text.data(), text.size());
      if (length < 0)
        continue;
      text.resize(static_cast<size_t>(length));
      item.linkText = std::move(text);
    }
    entries.push_back(std::move(item));
  }
  std::sort(entries.begin(), entries.end(),
            [](const HostDevEntry& a, const HostDevEntry& b) { return a.name < b.name; });
  return entries;
}

std::vector<MountOp> gpuMountOps(const gpu::GpuInjection& injection) {
  std::vector<MountOp> ops;
  if (!injection.enabled)
    return ops;
  MountOp tmpfs;
  tmpfs.kind = MountOpKind::kTmpfs;
  tmpfs.target = injection.tmpfsDir;
  tmpfs.data = "mode=0755,size=64k";
  tmpfs.origin = fmt::format("GPU {}", injection.tmpfsDir);
  ops.push_back(tmpfs);
  // Files into the tmpfs first, then their links, then everything outside it.
  for (const BindItem& item : injection.binds)
    if (item.kind == BindItem::Kind::kLibrary || item.kind == BindItem::Kind::kBinary)
      ops.push_back(bindOp(item));
  for (const gpu::LinkItem& link : injection.links) {
    MountOp op;
    op.kind = MountOpKind::kSymlink;
    op.source = link.target;
    op.target = link.containerPath;
    op.origin = fmt::format("GPU {}", link.containerPath);
    ops.push_back(op);
  }
  for (const BindItem& item : injection.binds)
    if (item.kind != BindItem::Kind::kLibrary && item.kind != BindItem::Kind::kBinary)
      ops.push_back(bindOp(item));
  return ops;
}

void addGpuMounts(std::vector<MountOp>& ops, const gpu::GpuInjection& injection,
                  const std::vector<HostDevEntry>& hostDev) {
  if (!injection.enabled)
    return;
  auto hostDevBind = std::find_if(ops.begin(), ops.end(), [](const MountOp& op) {
    return op.kind == MountOpKind::kBind && op.source == "/dev" && op.target == "/dev";
  });
  if (hostDevBind != ops.end()) {
    std::vector<MountOp> dev;
    MountOp tmpfs;
    tmpfs.kind = MountOpKind::kTmpfs;
    tmpfs.target = "/dev";
    tmpfs.data = "mode=0755,size=64k";
    tmpfs.origin = "/dev (GPU: host /dev without other GPUs)";
    dev.push_back(tmpfs);
    for (const HostDevEntry& entry : hostDev) {
      if (isNvidiaEntry(entry.name))
        continue;
      MountOp op;
      op.source = "/dev/" + entry.name;
      op.target = op.source;
      op.origin = op.source;
      if (entry.kind == HostDevEntry::Kind::kSymlink) {
        op.kind = MountOpKind::kSymlink;
        op.source = entry.linkText;
      } else {
        op.allowDevices = true;
        op.recursive = entry.kind == HostDevEntry::Kind::kDirectory;  // pts, shm, mqueue, ...
        op.optional = true;  // a hot-plugged device may be gone by now
      }
      dev.push_back(op);
    }
    auto at = ops.erase(hostDevBind);
    ops.insert(at, dev.begin(), dev.end());
  }
  std::vector<MountOp> gpu = gpuMountOps(injection);
  ops.insert(ops.end(), gpu.begin(), gpu.end());
}

EnvList applyGpuEnvironment(EnvList env, const std::vector<gpu::EnvEdit>& edits) {
  for (const gpu::EnvEdit& edit : edits) {
    std::string prefix = edit.name + "=";
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const std::string& entry) { return entry.starts_with(prefix); });
    std::string current = it == env.end() ? std::string() : it->substr(prefix.size());
    std::string value = edit.value;
    if (!current.empty() && edit.mode == gpu::EnvEdit::Mode::kPrepend)
      value = edit.value + ":" + current;
    else if (!current.empty() && edit.mode == gpu::EnvEdit::Mode::kAppend)
      value = current + ":" + edit.value;
    if (it == env.end())
      env.push_back(prefix + value);
    else
      *it = prefix + value;
  }
  return env;
}

}  // namespace berth::container
