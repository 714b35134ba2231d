#include "shared/config/site_mapping.hpp"

#include "shared/container/mount_spec.hpp"

namespace berth::config {

Result<container::RuntimeConfig> runtimeConfigFor(const SiteConfig& site) {
  container::RuntimeConfig runtime;
  runtime.stagingDir = site.stagingDir;
  runtime.overlaySize = site.writableSize;
  runtime.mountHome = site.mountHome;
  runtime.hostFiles = site.hostFiles;
  runtime.allowUnprivileged = site.allowUnprivileged;
  runtime.squashfuse = site.squashfuse;
  for (const std::string& spec : site.defaultMounts) {
    BERTH_ASSIGN(container::MountSpec bind,
                 container::parseMountSpec(spec).withContext("berth.conf default_mounts"));
    runtime.defaultBinds.push_back(std::move(bind));
  }
  return runtime;
}

image::RegistryOptions registryOptionsFor(const SiteConfig& site) {
  image::RegistryOptions options;
  options.insecureRegistries = site.insecureRegistries;
  for (const RegistryMirror& mirror : site.registryMirrors)
    options.mirrors[mirror.registry].push_back(mirror.mirror);
  return options;
}

image::ConvertOptions convertOptionsFor(const SiteConfig& site) {
  image::ConvertOptions options;
  options.zstdLevel = site.zstdLevel;
  options.keepSetuid = site.keepSetuid;
  return options;
}

}  // namespace berth::config
