// A build step's container: the one container lifecycle (container::buildContainer) over
//
//   overlay(lower = scaffold : earlier steps' upper directories : base image,
//           upper = this step's directory)
//
// as root inside (the identity mode: root itself, or a user namespace mapped to the builder's
// ids), no home, private /tmp and a minimal /dev, the host's network, resolv.conf and hosts.
// RUN runs a command in it; COPY runs code in a child that joined it (copy_into.hpp).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "shared/build/layer_writer.hpp"
#include "shared/config/site_config.hpp"
#include "shared/container/build.hpp"
#include "shared/container/identity_mode.hpp"
#include "shared/core/result.hpp"
#include "shared/sys/identity.hpp"

namespace berth::build {

// Who builds, and how root inside maps to them.
struct StepIdentity {
  sys::Identity user;           // the builder (root, or the user who runs berth build)
  container::RootMapping root;  // identity (root builds), subuid or single
  bool unprivileged = false;    // the builder is not root
};

// The layers a step's container stacks.
struct StepLayers {
  std::filesystem::path image;               // the base squashfs
  std::vector<std::filesystem::path> below;  // earlier steps' upper directories, topmost first
  std::filesystem::path layerDir;            // this step's: layerDir/upper, layerDir/work
};

// A command to run in the step's container.
struct StepCommand {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value"
  std::string workdir = "/";     // made (in the step's layer) when missing
  std::string user;              // USER: "name", "uid", "uid:gid", ...; empty: root
};

class StepContainer {
 public:
  [[nodiscard]] static Result<StepContainer> open(const config::SiteConfig& site,
                                                  const StepIdentity& identity,
                                                  const StepLayers& layers,
                                                  const std::string& workdir = {});

  // Runs the command and waits; its exit status (128+N for a signal).
  [[nodiscard]] Result<int> run(const StepCommand& command) const;

  // Runs `body` in a forked child that is root inside the container, at "/" of its root (so
  // absolute paths are the container's). Its error comes back as this call's.
  [[nodiscard]] Status runAsRoot(const std::function<Status()>& body) const;

  // The container's root directory (O_PATH), readable from this process (COPY --from).
  int rootDirectory() const { return built_.prepared.rootDirectory(); }

 private:
  explicit StepContainer(container::BuiltContainer built) : built_(std::move(built)) {}
  container::BuiltContainer built_;
};

// The map a layer's owners are mapped back through (empty: identity).
LayerWriteOptions layerOptionsFor(const StepIdentity& identity);

// Removes `dir` (a build's scratch) as root of a user namespace with the build's maps, so that
// files the subuid mode gave subordinate owners go too; plain removal for root builds.
[[nodiscard]] Status removeBuildTree(const StepIdentity& identity,
                                     const std::filesystem::path& dir);

// An image's user database: "name" or "uid", with optional ":group" or ":gid", as USER and
// --chown say. Names are looked up in `passwd` and `group` (the image's files).
struct ImageOwner {
  uid_t uid = 0;
  gid_t gid = 0;
};
[[nodiscard]] Result<ImageOwner> resolveImageOwner(std::string_view spec, std::string_view passwd,
                                                   std::string_view group);

}  // namespace berth::build
