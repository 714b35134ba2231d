#include "shared/gpu/cuda_compat.hpp"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "shared/core/strings.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/sys/process.hpp"

namespace berth::gpu {
namespace {

// What the child writes: a status (0 ok, else which step failed) and the version.
struct ProbeReply {
  int status;
  int version;
};
enum ProbeStatus : int { kProbeOk = 0, kProbeDlopen = 1, kProbeDlsym = 2, kProbeCallFailed = 3 };

[[noreturn]] void probeChild(int writeFd, const char* path) {
  // The parent's signal handlers (slurmstepd's, a test framework's) must not run here: a crash
  // in the driver library should end this child, and the parent sees the signal.
  for (int sig = 1; sig < NSIG; ++sig)
    ::signal(sig, SIG_DFL);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ProbeReply reply{kProbeOk, 0};
  void* handle = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    reply.status = kProbeDlopen;
  } else {
    using GetVersion = int (*)(int*);
    auto getVersion = reinterpret_cast<GetVersion>(::dlsym(handle, "cuDriverGetVersion"));
    if (getVersion == nullptr) {
      reply.status = kProbeDlsym;
    } else {
      int result = getVersion(&reply.version);
      if (result != 0) {
        reply.status = kProbeCallFailed;
        reply.version = result;
      }
    }
  }
  [[maybe_unused]] ssize_t n = ::write(writeFd, &reply, sizeof reply);
  ::_exit(0);
}

// Opens `relative` (a path inside the image) as a directory, resolved inside `rootFd`.
UniqueFd openInRoot(int rootFd, const std::string& relative) {
  struct open_how how {};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return UniqueFd(
      static_cast<int>(::syscall(SYS_openat2, rootFd, relative.c_str(), &how, sizeof how)));
}

std::vector<std::string> listDir(UniqueFd dirFd) {
  std::vector<std::string> names;
  DIR* dir = ::fdopendir(dirFd.release());
  if (dir == nullptr)
    return names;
  while (dirent* entry = ::readdir(dir))
    names.emplace_back(entry->d_name);
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

// The directories CUDA images keep libcudart in.
constexpr std::string_view kCudartDirs[] = {
    "usr/local/cuda/lib64",                     // nvidia/cuda images (a link to targets/...)
    "usr/local/cuda/targets/x86_64-linux/lib",  // the toolkit's real location on x86_64
    "usr/local/cuda/targets/sbsa-linux/lib",    // ... on aarch64 servers
    "usr/lib/x86_64-linux-gnu",                 // Debian/Ubuntu's nvidia-cuda-toolkit
    "usr/lib64",                                // RHEL-family packages
};

}  // namespace

Result<CudaVersion> probeDriverCudaVersion(const std::string& libcudaPath,
                                           std::chrono::milliseconds timeout) {
  auto probe = [&]() -> Result<CudaVersion> {
    BERTH_ASSIGN(auto pipe, sys::makePipe());
    auto [readEnd, writeEnd] = std::move(pipe);
    pid_t pid = ::fork();
    if (pid < 0)
      return errnoError("fork");
    if (pid == 0) {
      readEnd.release();  // the child never returns; leave the parent's fds alone
      probeChild(writeEnd.get(), libcudaPath.c_str());
    }
    writeEnd.reset();

    ProbeReply reply{};
    size_t got = 0;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timedOut = false;
    while (got < sizeof reply) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd pfd{readEnd.get(), POLLIN, 0};
      int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
      if (ready < 0 && errno == EINTR)
        continue;
      if (ready <= 0) {
        timedOut = true;
        break;
      }
      ssize_t n = ::read(readEnd.get(), reinterpret_cast<char*>(&reply) + got, sizeof reply - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += static_cast<size_t>(n);
    }
    if (timedOut)
      ::kill(pid, SIGKILL);
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (timedOut)
      return Error(fmt::format("no answer within {} ms (child killed)", timeout.count()));
    if (got < sizeof reply) {
      if (WIFSIGNALED(wstatus))
        return Error(fmt::format("the child died of signal {} ({})", WTERMSIG(wstatus),
                                 strsignal(WTERMSIG(wstatus))));
      return Error("the child exited without an answer");
    }
    switch (reply.status) {
      case kProbeOk:
        if (reply.version <= 0)
          return Error(fmt::format("cuDriverGetVersion returned version {}", reply.version));
        return CudaVersion::fromDriverApi(reply.version);
      case kProbeDlopen:
        return Error("dlopen failed");
      case kProbeDlsym:
        return Error("no cuDriverGetVersion in it");
      default:
        return Error(fmt::format("cuDriverGetVersion failed with CUresult {}", reply.version));
    }
  };
  return probe().withContext(fmt::format("ask `{}` for its CUDA version", libcudaPath));
}

Result<ImageCudaFiles> scanImageCuda(const std::filesystem::path& imageRoot) {
  UniqueFd root(::open(imageRoot.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root)
    return errnoError(fmt::format("open image root `{}`", imageRoot.string()));
  ImageCudaFiles files;
  if (UniqueFd compat = openInRoot(root.get(), std::string(kImageCompatDir.substr(1)))) {
    for (const std::string& name : listDir(std::move(compat))) {
      if (name.starts_with("libcuda.so"))
        files.compatLibraries.push_back(name);
    }
  }
  for (std::string_view dirName : kCudartDirs) {
    UniqueFd dir = openInRoot(root.get(), std::string(dirName));
    if (!dir)
      continue;
    for (const std::string& name : listDir(std::move(dir))) {
      constexpr std::string_view kPrefix = "libcudart.so.";
      if (!name.starts_with(kPrefix))
        continue;
      std::string_view rest = std::string_view(name).substr(kPrefix.size());
      if (std::count(rest.begin(), rest.end(), '.') < 1)
        continue;  // the soname link libcudart.so.12 says only the major
      auto version = CudaVersion::parse(rest);
      if (version.ok() && (!files.cudart || *files.cudart < *version))
        files.cudart = *version;
    }
  }
  return files;
}

Result<CompatDecision> decideCudaCompat(const CudaRequirement& requirement,
                                        const Result<CudaVersion>& driverCuda,
                                        std::string_view driverVersion,
                                        const ImageCudaFiles& image) {
  using enum CompatDecision::Outcome;
  if (requirement.checkDisabled)
    return CompatDecision{kCheckDisabled, "", "CUDA check skipped (NVIDIA_DISABLE_REQUIRE)"};
  if (!requirement.minimum)
    return CompatDecision{kNoRequirement, "", "the image states no CUDA version"};
  CudaVersion need = *requirement.minimum;
  if (!driverCuda.ok())
    return driverCuda.error().withContext(
        fmt::format("image needs CUDA {} ({}); cannot tell what driver {} supports (set "
                    "NVIDIA_DISABLE_REQUIRE=1 to skip the check)",
                    need.str(), requirement.source, driverVersion));
  CudaVersion have = *driverCuda;
  if (have >= need)
    return CompatDecision{kDriverSufficient, "",
                          fmt::format("image needs CUDA {} ({}); driver {} supports CUDA {}",
                                      need.str(), requirement.source, driverVersion, have.str())};
  if (!image.compatLibraries.empty())
    return CompatDecision{
        kUseImageCompat, std::string(kImageCompatDir),
        fmt::format("image needs CUDA {} ({}); driver {} supports CUDA {}: using the image's "
                    "forward-compatibility libraries in {}",
                    need.str(), requirement.source, driverVersion, have.str(), kImageCompatDir)};
  auto minimum = minimumDriverFor(need);
  return Error(fmt::format(
      "image needs CUDA {} ({}) but the host's NVIDIA driver {} supports only CUDA {}: CUDA {} "
      "needs driver >= {} (or the image's forward-compatibility libraries in {})",
      need.str(), requirement.source, driverVersion, have.str(), need.str(),
      minimum ? std::string(*minimum) : std::string("a newer driver than berth knows"),
      kImageCompatDir));
}

}  // namespace berth::gpu
