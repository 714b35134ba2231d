#include "shared/container/container_namespace.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shared/container/executor.hpp"
#include "shared/convert/image_files.hpp"
#include "shared/image/metadata.hpp"
#include "shared/sys/mount.hpp"
#include "shared/sys/process.hpp"
#include "shared/sys/resolve.hpp"
#include "shared/sys/user_namespace.hpp"

namespace berth::container {
namespace {

constexpr char kOk = 'O';
constexpr char kFailed = 'E';
constexpr char kMapsWanted = 'M';  // the helper created its user namespace: write its maps
static_assert(convert::kMaxImageConfigBytes < sys::kMaxMessageBytes,
              "the config must fit in a message");

// Root inside (plan.rootMaps): a user namespace of the user's, whose maps the parent writes
// (it may: root, or the user with newuidmap/newgidmap). Root building it for a user (slurmstepd)
// becomes the user first, for good, so the namespace belongs to the user (the user's tasks join
// it later without privileges) and nothing in it holds a host privilege. (The image's FUSE
// connection must be opened inside the namespace too: the kernel refuses a /dev/fuse opened
// in another one, so /dev/fuse must be usable by users, as for unprivileged containers.)
Status enterRootNamespace(const sys::Identity& user, int socket) {
  if (::geteuid() == 0)
    BERTH_TRY(sys::dropPrivileges(user));
  BERTH_TRY(sys::enterUserNamespace());
  BERTH_TRY(sys::sendMessage(socket, std::string(1, kMapsWanted)));
  sys::Message reply;
  BERTH_TRY(sys::receiveMessage(socket, reply));
  if (reply.data.empty())
    return Error("berth went away while the container was being built");
  if (!reply.data.starts_with(kOk))
    return Error(reply.data.substr(1));
  // The maps make this process root inside, with every capability there.
  return sys::enterMountNamespace();
}

// The helper's work; runs in the forked child. Returns what to send to the parent.
Status buildInHelper(const MountPlan& plan, const sys::Identity& user, int socket,
                     sys::ChildProcess& server) {
  if (plan.rootMaps)
    BERTH_TRY(enterRootNamespace(user, socket));
  else if (plan.unprivileged)
    BERTH_TRY(sys::enterUserNamespaceAsSelf(::getuid(), ::getgid()));
  else
    BERTH_TRY(sys::enterMountNamespace());
  BERTH_TRY(sys::makeMountsPrivate());
  // Open the namespace fds while the host's /proc is still reachable.
  UniqueFd mountNs(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
  UniqueFd userNs(plan.unprivileged ? ::open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC) : -1);
  if (!mountNs || (plan.unprivileged && !userNs))
    return errnoError("open namespace fd");
  BERTH_ASSIGN(server, executeMountPlan(plan, user));
  std::string config;
  UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root)
    return errnoError("open container root");
  if (auto content =
          sys::readFileInRoot(root.get(), image::kConfigFile, convert::kMaxImageConfigBytes);
      content.ok())
    config = std::move(content).value();
  else if (content.error().errnum() != ENOENT)
    return std::move(content).error().withContext("the image's config");
  std::vector<int> fds{mountNs.get(), root.get()};
  if (userNs)
    fds.push_back(userNs.get());
  return sys::sendMessage(socket, std::string(1, kOk) + config, fds)
      .withContext("pass the container to berth");
}

[[noreturn]] void runHelper(const MountPlan& plan, const sys::Identity& user, int socket) {
  sys::ChildProcess server;
  Status status = buildInHelper(plan, user, socket, server);
  if (!status.ok()) {
    server.terminate();
    (void)sys::sendMessage(socket, std::string(1, kFailed) + status.error().message());
    ::_exit(1);
  }
  if (plan.unprivileged) {
    // Keeper: wait for the parent to close its end, then stop the FUSE server (our child).
    char byte;
    while (::read(socket, &byte, 1) > 0 || errno == EINTR) {
    }
    server.terminate();
  }
  ::_exit(0);
}

}  // namespace

PreparedContainer::PreparedContainer(PreparedContainer&& other) noexcept
    : mountNs_(std::move(other.mountNs_)),
      userNs_(std::move(other.userNs_)),
      root_(std::move(other.root_)),
      keeperSocket_(std::move(other.keeperSocket_)),
      keeper_(std::exchange(other.keeper_, -1)),
      configJson_(std::move(other.configJson_)) {}

PreparedContainer& PreparedContainer::operator=(PreparedContainer&& other) noexcept {
  if (this != &other) {
    release();
    mountNs_ = std::move(other.mountNs_);
    userNs_ = std::move(other.userNs_);
    root_ = std::move(other.root_);
    keeperSocket_ = std::move(other.keeperSocket_);
    keeper_ = std::exchange(other.keeper_, -1);
    configJson_ = std::move(other.configJson_);
  }
  return *this;
}

PreparedContainer::~PreparedContainer() {
  release();
}

void PreparedContainer::release() noexcept {
  mountNs_.reset();
  userNs_.reset();
  root_.reset();
  keeperSocket_.reset();
  if (keeper_ > 0) {
    (void)sys::waitForProcess(keeper_);
    keeper_ = -1;
  }
}

void PreparedContainer::releaseInBackground() noexcept {
  keeper_ = -1;
  release();
}

Result<PreparedContainer> prepareContainerNamespace(const MountPlan& plan,
                                                    const sys::Identity& user) {
  BERTH_ASSIGN(auto pair, sys::makeSocketPair());
  auto [parentEnd, childEnd] = std::move(pair);
  pid_t pid = ::fork();
  if (pid < 0)
    return errnoError("fork container helper");
  if (pid == 0) {
    parentEnd.reset();
    runHelper(plan, user, childEnd.get());
  }
  childEnd.reset();
  PreparedContainer prepared;
  prepared.keeper_ = pid;
  prepared.keeperSocket_ = std::move(parentEnd);
  sys::Message message;
  BERTH_TRY(sys::receiveMessage(prepared.keeperSocket_.get(), message)
                .withContext("receive the container from its helper"));
  if (plan.rootMaps && message.data == std::string(1, kMapsWanted)) {
    Status mapped = sys::writeIdMaps(pid, *plan.rootMaps).withContext("map root to the user");
    BERTH_TRY(sys::sendMessage(
        prepared.keeperSocket_.get(),
        mapped.ok() ? std::string(1, kOk) : std::string(1, kFailed) + mapped.error().message()));
    message = {};
    BERTH_TRY(sys::receiveMessage(prepared.keeperSocket_.get(), message)
                  .withContext("receive the container from its helper"));
  }
  const std::string& data = message.data;
  if (data.empty())
    return Error("the container helper died");  // `prepared` reaps the helper
  if (!data.starts_with(kOk))
    return Error(data.substr(1));
  if (message.fds.size() < (plan.unprivileged ? 3u : 2u))
    return Error("the container helper sent no namespace");
  prepared.configJson_ = message.data.substr(1);
  prepared.mountNs_ = std::move(message.fds[0]);
  prepared.root_ = std::move(message.fds[1]);
  if (plan.unprivileged) {
    prepared.userNs_ = std::move(message.fds[2]);
  } else {
    // The privileged helper is done: reap it now; the namespace lives on in our fd.
    (void)sys::waitForProcess(pid);
    prepared.keeper_ = -1;
    prepared.keeperSocket_.reset();
  }
  return prepared;
}

Status joinContainer(const PreparedContainer& container) {
  if (container.userNamespace() >= 0)
    BERTH_TRY(sys::joinNamespace(container.userNamespace(), CLONE_NEWUSER));
  BERTH_TRY(sys::joinNamespace(container.mountNamespace(), CLONE_NEWNS));
  return okStatus();
}

}  // namespace berth::container
