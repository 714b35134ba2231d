// A container as a mount namespace held by fds: built once by a helper child, joined by any
// number of processes later (the CLI's command, or every task of a Slurm step on a node).
//
//   prepareContainerNamespace(plan, user)  fork a helper; it unshares (user+)mount namespaces,
//                                          executes the plan, pivot_roots, and sends back the
//                                          namespace fds and the image's config over SCM_RIGHTS
//   joinContainer(prepared)                in a (single-threaded, forked) child: setns into them
//
// Privileged: the helper exits once it has sent the fds; the namespace lives as long as an fd
// or a process in it. Unprivileged: the FUSE server must keep serving the image, so the helper
// stays as its keeper until this object is destroyed (it then stops the server and exits).
#pragma once

#include <sys/types.h>

#include <string>

#include "shared/container/mount_plan.hpp"
#include "shared/core/unique_fd.hpp"

namespace berth::container {

class PreparedContainer {
 public:
  PreparedContainer() = default;
  PreparedContainer(PreparedContainer&&) noexcept;
  PreparedContainer& operator=(PreparedContainer&&) noexcept;
  PreparedContainer(const PreparedContainer&) = delete;
  PreparedContainer& operator=(const PreparedContainer&) = delete;
  ~PreparedContainer();

  int mountNamespace() const { return mountNs_.get(); }
  int userNamespace() const { return userNs_.get(); }  // -1 in privileged mode
  // The container's root directory (O_PATH), to read the image as the container sees it (the
  // GPU CUDA check: sys::fdPath() of it as the image root).
  int rootDirectory() const { return root_.get(); }
  // /.berth/config.json of the image as read inside the container ("" when the image has none).
  const std::string& imageConfigJson() const { return configJson_; }

  // Lets go of the container without waiting for it to be taken down: the unprivileged keeper
  // stops the FUSE server and the kernel tears the namespace down (a synchronize_rcu() and
  // every unmount, up to several ms) while the caller goes on. For a caller about to exit: the
  // keeper stays its unreaped child until then, and init reaps it.
  void releaseInBackground() noexcept;

 private:
  friend Result<PreparedContainer> prepareContainerNamespace(const MountPlan&,
                                                             const sys::Identity&);
  void release() noexcept;

  UniqueFd mountNs_;
  UniqueFd userNs_;
  UniqueFd root_;
  UniqueFd keeperSocket_;  // unprivileged: closing it tells the keeper to stop squashfuse
  pid_t keeper_ = -1;
  std::string configJson_;
};

// Builds the container described by `plan` in a helper child; `user` is whose identity checks
// the bind sources. Never leaves a mount behind on failure (the helper's namespace dies).
[[nodiscard]] Result<PreparedContainer> prepareContainerNamespace(const MountPlan& plan,
                                                                  const sys::Identity& user);

// setns() into the container's namespaces. Call from a single-threaded process (a fresh fork).
[[nodiscard]] Status joinContainer(const PreparedContainer& container);

}  // namespace berth::container
