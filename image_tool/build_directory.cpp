#include "image_tool/build_directory.hpp"

#include <fmt/format.h>

#include "image_tool/site.hpp"
#include "shared/cache/puller.hpp"
#include "shared/config/site_mapping.hpp"
#include "shared/image/reference.hpp"

namespace berth::cli {

namespace fs = std::filesystem;

bool isSandboxSource(const fs::path& source) {
  std::error_code ec;
  if (!fs::is_directory(source, ec))
    return false;
  for (const char* file : {"Dockerfile", "Containerfile"})
    if (fs::exists(source / file, ec))
      return false;
  return true;
}

Result<int> buildFromDirectory(const DirectoryBuild& build, const Logger& log) {
  if (build.output.has_value() == !build.tag.empty())
    return Error("build from a directory: give IMG.sqsh or -t REF (one of them)");
  if (!isSandboxSource(build.directory))
    return Error(fmt::format("`{}` is not a sandbox directory", build.directory.string()));
  BERTH_ASSIGN(config::SiteConfig site, loadSite());
  cache::PullOptions options;
  options.convert = config::convertOptionsFor(site);
  if (build.output)
    options.output = fs::absolute(*build.output);
  BERTH_ASSIGN(cache::ImageCache cache, openCache(site, build.cacheDir));
  // An absolute path: pullImage takes an existing directory as a directory source.
  std::string source = fs::absolute(build.directory).lexically_normal().string();
  BERTH_ASSIGN(cache::PullResult result,
               cache::pullImage(source, cache, options, cache::PullObserver{}, log)
                   .withContext(fmt::format("build from `{}`", build.directory.string())));
  if (!build.tag.empty()) {
    BERTH_ASSIGN(image::ImageReference ref, image::parseImageReference(build.tag));
    BERTH_TRY(cache.recordReference(ref.toString(), result.digest).withContext("-t"));
  }
  fmt::print("{}\n{}\n", result.digest, result.path.string());
  return 0;
}

}  // namespace berth::cli
