// berth build: a Dockerfile (or a sandbox directory) into an image, in the image cache under a
// name (-t REF) or in a file (berth build OUT.sqsh SOURCE). The pipeline is shared/build/
// (docs/build.md); this file reads the command line, picks the identity mode and places the
// result.
#include <signal.h>
#include <unistd.h>

#include <strings.h>

#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "image_tool/build_directory.hpp"
#include "image_tool/command.hpp"
#include "image_tool/site.hpp"
#include "shared/build/build_scratch.hpp"
#include "shared/build/built_config.hpp"
#include "shared/build/definition_plan.hpp"
#include "shared/build/docker_builder.hpp"
#include "shared/cache/image_cache.hpp"
#include "shared/cache/provide.hpp"
#include "shared/config/site_mapping.hpp"
#include "shared/convert/local_source.hpp"
#include "shared/core/process_env.hpp"
#include "shared/core/read_file.hpp"
#include "shared/core/strings.hpp"
#include "shared/core/units.hpp"
#include "shared/image/metadata.hpp"
#include "shared/image/reference.hpp"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;

struct BuildArgs {
  std::vector<std::string> positionals;  // [OUT.sqsh] SOURCE
  std::string tag;                       // -t REF
  std::string file;                      // -f Dockerfile
  std::vector<std::string> buildArgs;    // --build-arg NAME=VALUE
  std::string target;
  bool noCache = false;
  bool noTest = false;
  std::string userns;
  std::string cacheDir;
};

constexpr size_t kMaxBuildFile = size_t{1} << 20;

Result<build::StepIdentity> stepIdentity(const BuildArgs& args, const config::SiteConfig& site,
                                         const Logger& log) {
  build::StepIdentity identity;
  BERTH_ASSIGN(identity.user, sys::lookupIdentity(::getuid()));
  identity.unprivileged = ::geteuid() != 0;
  if (!identity.unprivileged) {
    if (!args.userns.empty())
      log.verbose("--userns: root builds as root");
    return identity;
  }
  if (!site.allowBuild)
    return Error("building images is disabled on this system (berth.conf allow_build)");
  container::UsernsChoice choice = site.buildUserns;
  if (!args.userns.empty()) {
    BERTH_ASSIGN(choice, container::parseUsernsChoice(args.userns).withContext("--userns"));
  }
  BERTH_ASSIGN(container::RootHostFacts facts, container::readRootHostFacts(identity.user, false));
  BERTH_ASSIGN(identity.root, container::chooseRootMapping(choice, facts).withContext("build"));
  log.verbose("build steps in the {} identity mode", container::rootModeName(identity.root.mode));
  return identity;
}

Result<std::optional<int64_t>> sourceDateEpoch() {
  std::optional<std::string> text = processEnv("SOURCE_DATE_EPOCH");
  if (!text || text->empty())
    return std::optional<int64_t>();
  char* end = nullptr;
  long long value = std::strtoll(text->c_str(), &end, 10);
  if (*end != '\0' || value < 0)
    return Error(fmt::format("SOURCE_DATE_EPOCH=`{}` is not a number of seconds", *text));
  return std::optional<int64_t>(value);
}

// FROM's image, pinned to its digest and pulled into the cache when missing.
Result<fs::path> provideBase(const config::SiteConfig& site, const fs::path& cacheRoot,
                             std::string_view name, const Logger& log) {
  cache::ImageWanted wanted;
  wanted.image = name;
  auto spec = convert::parseSource(name);
  if (spec.ok() && spec->kind == convert::SourceKind::kRegistry) {
    auto pinned = cache::pinImage(site, cacheRoot, name, {}, log);
    if (pinned.ok())
      wanted.pinnedDigest = *pinned;
    else
      log.verbose("FROM {}: not pinned ({}); the cached image is used", name,
                  pinned.error().message());
  }
  wanted.pulling = [&log](std::string_view reference) { log.info("pulling {}", reference); };
  return cache::provideImage(site, cacheRoot, wanted, log);
}

Result<fs::path> placeImage(const build::BuiltImage& built, const std::optional<fs::path>& output,
                            const std::string& reference, const config::SiteConfig& site,
                            cache::ImageCache& cache, std::optional<int64_t> epoch,
                            const Logger& log) {
  image::ImageSource source;
  source.reference = reference;
  source.digest = built.digest;
  source.platform = built.platform;
  source.created = built.created;
  source.tool = fmt::format("berth {}", BERTH_VERSION);
  source.manifest = built.manifestJson;
  source.manifestMediaType = build::kOciManifestType;
  convert::ConvertOptions options = config::convertOptionsFor(site);
  if (epoch)
    options.mkfsTime = static_cast<uint32_t>(*epoch);
  convert::ImageMetadataFiles metadata{built.configJson, image::serializeImageSource(source)};
  auto produce = [&](const fs::path& out) -> Status {
    BERTH_TRY(convert::convertLayers(built.layers, metadata, out, options, log));
    return okStatus();
  };
  if (output) {
    BERTH_TRY(produce(*output).withContext(fmt::format("write `{}`", output->string())));
    return *output;
  }
  BERTH_ASSIGN(cache::CachedImage image, cache.ensure(built.digest, reference, produce));
  BERTH_TRY(cache.recordReference(reference, built.digest));
  return image.path;
}

// A definition file's %test, in the built image (a throw-away layer over it), as root inside.
Status runImageTest(const config::SiteConfig& site, const build::StepIdentity& identity,
                    const fs::path& image, const Logger& log) {
  BERTH_ASSIGN(build::StepContainer container,
               build::StepContainer::open(site, identity, {image, {}, {}}));
  build::StepCommand command;
  command.argv = {"/bin/sh", std::string("/") + std::string(image::kTestFile)};
  command.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"};
  log.info("running %test");
  BERTH_ASSIGN(int status, container.run(command));
  if (status != 0)
    return Error(
        fmt::format("%test exited with status {} (the image is kept: `{}`; --notest "
                    "skips the test)",
                    status, image.string()));
  return okStatus();
}

bool isDefinitionFile(const fs::path& file) {
  std::string name = file.filename().string();
  if (name == "Dockerfile" || name == "Containerfile")
    return false;
  if (file.extension() == ".def")
    return true;
  auto text = readRegularFile(file, kMaxBuildFile);
  if (!text.ok())
    return false;
  for (const std::string& line : split(*text, '\n')) {
    std::string_view trimmed = trim(line);
    if (trimmed.empty() || trimmed.front() == '#')
      continue;
    return trimmed.size() >= 10 && strncasecmp(trimmed.data(), "bootstrap:", 10) == 0;
  }
  return false;
}

Result<int> runBuild(const BuildArgs& args, const Logger& log) {
  if (args.positionals.empty() || args.positionals.size() > 2)
    return Error("give SOURCE, or OUT.sqsh SOURCE");
  fs::path source = args.positionals.back();
  std::optional<fs::path> output;
  if (args.positionals.size() == 2)
    output = fs::absolute(args.positionals.front());
  if (output.has_value() == !args.tag.empty())
    return Error("give OUT.sqsh or -t REF (one of them)");
  if (args.file.empty() && isSandboxSource(source))
    return buildFromDirectory({source, output, args.tag, args.cacheDir}, log);

  BERTH_ASSIGN(config::SiteConfig site, loadSite());
  fs::path context = source;
  fs::path dockerfile = args.file;
  std::error_code ec;
  bool definition = false;
  if (!fs::is_directory(context, ec)) {
    // A file: a definition file, or a Dockerfile whose directory is the context.
    definition = args.file.empty() && isDefinitionFile(source);
    dockerfile = source;
    context = source.parent_path().empty() ? fs::path(".") : source.parent_path();
  } else if (dockerfile.empty()) {
    dockerfile =
        fs::exists(context / "Dockerfile", ec) ? context / "Dockerfile" : context / "Containerfile";
  }
  BERTH_ASSIGN(std::string text, readRegularFile(dockerfile, kMaxBuildFile));
  std::string reference;
  if (!args.tag.empty()) {
    BERTH_ASSIGN(image::ImageReference ref, image::parseImageReference(args.tag).withContext("-t"));
    reference = ref.toString();
  }

  build::DockerBuildRequest request;
  request.context = fs::absolute(context);
  request.dockerfileText = std::move(text);
  request.dockerfileName = dockerfile.filename().string();
  std::map<std::string, std::string> buildArgs;
  for (const std::string& item : args.buildArgs) {
    size_t eq = item.find('=');
    if (eq == 0)
      return Error(fmt::format("--build-arg `{}`: NAME=VALUE", item));
    if (eq == std::string::npos) {
      // --build-arg NAME: the caller's value, as Docker takes it.
      if (auto value = processEnv(item))
        buildArgs[item] = *value;
      continue;
    }
    buildArgs[item.substr(0, eq)] = item.substr(eq + 1);
  }
  request.target = args.target;
  BERTH_ASSIGN(request.sourceDateEpoch, sourceDateEpoch());
  request.noCache = args.noCache;
  BERTH_ASSIGN(request.identity, stepIdentity(args, site, log));
  BERTH_ASSIGN(cache::ImageCache cache, openCache(site, args.cacheDir));
  request.cacheRoot = cache.root();
  BERTH_ASSIGN(TempDir scratch, build::makeBuildScratch(site.buildDir));
  request.scratch = scratch.path();
  std::string testScript;
  if (definition) {
    // The definition file as Dockerfile steps over a generated context (definition_plan.hpp).
    BERTH_ASSIGN(
        build::DefinitionFile file,
        build::parseDefinitionFile(request.dockerfileText, {request.dockerfileName, buildArgs}));
    for (const std::string& name : file.unusedBuildArgs)
      log.warning("build argument `{}` is not used by {}", name, request.dockerfileName);
    fs::path generated = request.scratch / "definition-context";
    fs::create_directories(generated, ec);
    BERTH_ASSIGN(build::DefinitionPlan plan,
                 build::planDefinitionBuild(file, request.dockerfileText, request.dockerfileName,
                                            request.context, generated));
    log.verbose("{} as a Dockerfile:\n{}", request.dockerfileName, plan.dockerfile);
    request.dockerfileText = plan.dockerfile;
    request.dockerfileName += " (as a Dockerfile)";
    request.context = generated;
    testScript = plan.testScript;
  } else {
    request.buildArgs = buildArgs;
  }
  request.provideImage = [&](std::string_view name) {
    return provideBase(site, request.cacheRoot, name, log);
  };
  request.progress = [&log](std::string_view line) { log.info("{}", line); };

  // Ctrl-C reaches the step's processes (same terminal); berth waits for them, then the
  // containers and the scratch go on the way out.
  ::signal(SIGINT, [](int) {});
  ::signal(SIGQUIT, [](int) {});
  auto built = build::buildDockerfile(site, request, log);
  // The scratch may hold files of subordinate ids: removed as root of a namespace that maps them.
  Status removed = build::removeBuildTree(request.identity, scratch.release());
  if (!removed.ok())
    log.warning("{}", removed.error().message());
  if (!built.ok())
    return std::move(built).error();
  BERTH_ASSIGN(fs::path image,
               placeImage(*built, output, reference.empty() ? built->digest : reference, site,
                          cache, request.sourceDateEpoch, log));
  if (!testScript.empty() && !args.noTest)
    BERTH_TRY(runImageTest(site, request.identity, image, log));
  fmt::print("{}\n{}\n", built->digest, image.string());
  return 0;
}

}  // namespace

void addBuildCommand(CLI::App& app, Invocation& invocation) {
  auto args = std::make_shared<BuildArgs>();
  CLI::App* cmd = app.add_subcommand(
      "build", "Build an image from a Dockerfile, a definition file or a sandbox directory");
  cmd->add_option("-t,--tag", args->tag, "Put the image into the image cache under REF");
  cmd->add_option("-f,--file", args->file,
                  "The Dockerfile (default: SOURCE/Dockerfile, else SOURCE/Containerfile)");
  cmd->add_option("--build-arg", args->buildArgs,
                  "NAME=VALUE for an ARG (NAME alone: your value of NAME; repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--target", args->target, "Build this stage (default: the last)");
  cmd->add_flag("--no-cache", args->noCache, "Run every step (the results still refill the cache)");
  cmd->add_flag("--notest", args->noTest, "Definition files: do not run %test after the build");
  cmd->add_option("--userns", args->userns,
                  "Not root: how root inside maps to you: auto (default), subuid (your "
                  "/etc/subuid range: exact owners) or single (one id: chown only pretends)");
  cmd->add_option("--cache", args->cacheDir,
                  "Image cache directory (layers, build cache, the result)");
  cmd->add_option("args", args->positionals,
                  "[OUT.sqsh] SOURCE: a build context directory (its Dockerfile or "
                  "Containerfile), a Dockerfile, a definition file (.def, or Bootstrap: first) or "
                  "a sandbox directory")
      ->required();
  cmd->footer(
      "Each RUN, COPY and ADD becomes one layer, cached by its inputs; an unchanged rebuild "
      "runs nothing. SOURCE_DATE_EPOCH makes the image bit-identical across rebuilds. See "
      "docs/build.md.");
  cmd->callback([&invocation, args] {
    invocation.action = [&invocation, args] { return runBuild(*args, invocation.log); };
  });
}

}  // namespace berth::cli
