#include "shared/config/site_mapping.hpp"

#include <charconv>

#include "shared/container/mount_spec.hpp"
#include "shared/sys/identity.hpp"

namespace berth::config {

Result<container::RuntimeConfig> runtimeConfigFor(const SiteConfig& site) {
  container::RuntimeConfig runtime;
  runtime.stagingDir = site.stagingDir;
  runtime.overlaySize = site.writableSize;
  runtime.hostFiles = site.hostFiles;
  runtime.allowUnprivileged = site.allowUnprivileged;
  runtime.allowFakeroot = site.allowFakeroot;
  runtime.squashfuse = site.squashfuse;
  for (const std::string& spec : site.defaultMounts) {
    BERTH_ASSIGN(container::MountSpec bind,
                 container::parseMountSpec(spec).withContext("berth.conf default_mounts"));
    runtime.defaultBinds.push_back(std::move(bind));
  }
  return runtime;
}

registry::RegistryOptions registryOptionsFor(const SiteConfig& site) {
  registry::RegistryOptions options;
  options.insecureRegistries = site.insecureRegistries;
  if (!site.registryCaFile.empty())
    options.caFiles.push_back(site.registryCaFile);
  for (const RegistryMirror& mirror : site.registryMirrors)
    options.mirrors[mirror.registry].push_back(mirror.mirror);
  return options;
}

Result<sys::TrustedOwners> cacheOwnersFor(const SiteConfig& site) {
  sys::TrustedOwners owners;
  if (site.cacheOwner.empty())
    return owners;
  uid_t uid = 0;
  auto [end, ec] =
      std::from_chars(site.cacheOwner.data(), site.cacheOwner.data() + site.cacheOwner.size(), uid);
  if (ec == std::errc() && end == site.cacheOwner.data() + site.cacheOwner.size()) {
    owners.extra = uid;
    return owners;
  }
  BERTH_ASSIGN(sys::Identity identity,
               sys::lookupIdentity(site.cacheOwner).withContext("berth.conf cache_owner"));
  owners.extra = identity.uid;
  return owners;
}

convert::ConvertOptions convertOptionsFor(const SiteConfig& site) {
  convert::ConvertOptions options;
  options.zstdLevel = site.zstdLevel;
  options.stripSetuid = site.stripSetuid;
  options.limits = site.imageLimits;
  return options;
}

}  // namespace berth::config
