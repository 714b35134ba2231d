#include "spank_plugin/image_provider.hpp"

#include <unistd.h>

#include "shared/cache/provide.hpp"
#include "shared/core/cancel.hpp"
#include "shared/image/reference.hpp"
#include "shared/registry/credentials.hpp"
#include "shared/sys/identity.hpp"
#include "spank_plugin/job_pins.hpp"
#include "spank_plugin/option_checks.hpp"

namespace berth::spank {
namespace {

// The user's credentials for `registry`, looked up with the user's file-system identity (their
// `berth login` file and Docker config, found through the job's HOME/XDG_CONFIG_HOME/
// DOCKER_CONFIG, or the job's BERTH_REGISTRY_* variables), handed to the registry client as
// the only variables it sees: root's own files and environment never serve a user's pull.
Result<registry::EnvLookup> userCredentials(const ImageRequest& request,
                                            std::string_view registry) {
  BERTH_ASSIGN(sys::Identity user, sys::lookupIdentity(static_cast<uid_t>(request.user.uid)));
  user.gid = static_cast<gid_t>(request.user.gid);
  registry::EnvLookup jobEnv = [&](std::string_view name) -> std::optional<std::string> {
    if (!request.userEnvironment)
      return std::nullopt;
    return request.userEnvironment(name);
  };
  std::optional<registry::Credentials> found;
  {
    BERTH_ASSIGN(auto scope, sys::FsIdentityScope::assume(user));
    registry::CredentialStore store(jobEnv, registry::defaultUserConfigDir(jobEnv),
                                    registry::defaultDockerConfigPath(jobEnv));
    // enroot's USER@ in the reference: that user's entry. None of theirs: none at all, and the
    // registry client says so if the registry asks for credentials.
    auto reference = image::parseImageReference(request.image);
    std::string wantedUser = reference.ok() ? reference->user : std::string();
    auto entry = store.lookup(registry, wantedUser);
    if (entry.ok())
      found = std::move(entry).value();
    else if (wantedUser.empty())
      return std::move(entry).error();
  }
  std::string suffix = registry::credentialEnvSuffix(registry);
  // The user's plain-HTTP registries are honoured only for a pull by digest: whatever the
  // transport, content that does not hash to the pinned digest is refused.
  std::optional<std::string> insecure;
  if (request.pinnedDigest)
    insecure = jobEnv("BERTH_INSECURE_REGISTRIES");
  return registry::EnvLookup(
      [found, suffix, insecure](std::string_view name) -> std::optional<std::string> {
        if (name == "BERTH_INSECURE_REGISTRIES")
          return insecure;
        if (!found)
          return std::nullopt;
        if (name == "BERTH_REGISTRY_USER_" + suffix)
          return found->username;
        if (name == "BERTH_REGISTRY_PASSWORD_" + suffix)
          return found->password;
        return std::nullopt;
      });
}

Result<std::filesystem::path> ensureImage(const config::SiteConfig& site, const Logger& log,
                                          const ImageRequest& request) {
  if (isImagePath(request.image)) {
    if (!site.allowUserImages)
      return Error("squashfs files named by path are not allowed on this site");
    // Opened with the user's identity when the container is built.
    return std::filesystem::path(request.image);
  }
  // A step that Slurm cancels while its image is pulled (or another node's pull waited for)
  // stops waiting and pulling, and lets its nodes go.
  cache::ImageWanted wanted{.image = request.image,
                            .pinnedDigest = request.pinnedDigest,
                            .registryEnv = {},
                            .abandoned = request.stepEnded,
                            .pulling = {}};
  wanted.pulling = [&](std::string_view reference) {
    log.info("berth: pulling {} into {}", reference, site.imageCache.string());
  };
  // The registry is asked with the user's credentials only, never with root's.
  wanted.registryEnv = [&request](std::string_view registry) {
    return userCredentials(request, registry);
  };
  Result<std::filesystem::path> image = cache::provideImage(site, site.imageCache, wanted, log);
  if (!image.ok() && isCancellation(image.error()))
    return Error(
        "the step ended (cancelled or out of time) while its image was pulled: pull abandoned",
        ECANCELED);
  return image;
}

}  // namespace

void addImageProvider(Backend& backend, const config::SiteConfig& site, const Logger& log) {
  // srun, as the user: the registry is asked with the user's own environment and files.
  backend.pinDigest = [site, log](std::string_view image) -> Result<std::optional<std::string>> {
    if (isImagePath(image))
      return std::optional<std::string>();
    return cache::pinImage(site, site.imageCache, image, {}, log);
  };
  backend.isCached = [site](std::string_view, const std::optional<std::string>& digest) {
    if (!digest)
      return true;                                                      // nothing to say
    return cache::isProvided(site.imageCache, *digest).value_or(true);  // unknown: nothing to say
  };
  backend.jobPin = [stateDir = site.stateDir](uint32_t jobId, std::string_view image) {
    return readJobPin(stateDir, jobId, ::getuid(), image);
  };
  backend.rememberJobPin = [stateDir = site.stateDir](uint32_t jobId, uint32_t uid,
                                                      std::string_view image,
                                                      std::string_view digest) {
    return recordJobPin(stateDir, jobId, static_cast<uid_t>(uid), image, digest);
  };
  backend.ensureImage = [site, log](const ImageRequest& request) {
    return ensureImage(site, log, request);
  };
}

}  // namespace berth::spank
