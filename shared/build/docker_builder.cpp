#include "shared/build/docker_builder.hpp"

#include <fcntl.h>
#include <signal.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "shared/build/build_cache.hpp"
#include "shared/build/built_config.hpp"
#include "shared/build/cache_key.hpp"
#include "shared/build/copy_into.hpp"
#include "shared/build/dockerignore.hpp"
#include "shared/core/read_file.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/image/digest.hpp"
#include "shared/image/metadata.hpp"

namespace berth::build {
namespace {

namespace fs = std::filesystem;
using Kind = DockerInstructionKind;

// Docker's PATH for RUN when the image sets none.
constexpr const char* kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// A layer of the stage being built.
struct Layer {
  fs::path upper;  // the step's upper directory when it ran in this build; empty for a hit
  convert::LayerBlob blob;
  image::Descriptor descriptor;
  std::string diffId;
};

// What a stage has so far: its base, its layers, and what a step's container stacks.
struct StageState {
  std::shared_ptr<BaseImage> base;
  std::vector<Layer> layers;  // this build's layers over the base (a stage base's included)
  std::vector<HistoryEntry> history;
  std::string key;
  std::string lastCreated;
  fs::path runImage;      // the squashfs the next step mounts
  size_t inRunImage = 0;  // layers[0..inRunImage) are inside runImage
};

bool changesFiles(Kind kind) {
  return kind == Kind::kRun || kind == Kind::kCopy || kind == Kind::kAdd;
}

std::string configCreated(const std::string& configJson) {
  auto doc = nlohmann::json::parse(configJson, nullptr, false);
  if (!doc.is_object() || !doc.contains("created") || !doc["created"].is_string())
    return {};
  return doc["created"].get<std::string>();
}

std::string nowText(const std::optional<int64_t>& epoch) {
  return rfc3339(epoch ? *epoch : static_cast<int64_t>(std::time(nullptr)));
}

class DockerBuild {
 public:
  DockerBuild(const config::SiteConfig& site, const DockerBuildRequest& request, const Logger& log)
      : site_(site), request_(request), log_(log), cache_(request.cacheRoot) {}

  Result<BuiltImage> run() {
    auto ignoreText = readRegularFile(request_.context / ".dockerignore", 1 << 20);
    if (ignoreText.ok()) {
      BERTH_ASSIGN(ignore_, DockerIgnore::parse(*ignoreText).withContext(".dockerignore"));
    }
    contextFd_ = UniqueFd(::open(request_.context.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!contextFd_)
      return errnoError(fmt::format("build context `{}`", request_.context.string()));
    DockerfileOptions options;
    options.fileName = request_.dockerfileName;
    options.buildArgs = request_.buildArgs;
    options.baseImage = [this](const std::string& image,
                               const std::string&) -> Result<BaseImageConfig> {
      BERTH_ASSIGN(std::shared_ptr<BaseImage> base, baseImage(image));
      return baseConfigFromOci(base->configJson);
    };
    BERTH_ASSIGN(file_, parseDockerfile(request_.dockerfileText, options));
    for (const std::string& name : file_.unusedBuildArgs)
      log_.warning("build argument `{}` is not used by {}", name, request_.dockerfileName);
    size_t target = file_.stages.size() - 1;
    if (!request_.target.empty()) {
      bool found = false;
      for (size_t i = 0; i < file_.stages.size(); ++i)
        if (file_.stages[i].name == request_.target) {
          target = i;
          found = true;
        }
      if (!found)
        return Error(fmt::format("--target `{}`: no stage of that name", request_.target));
    }
    for (const DockerStage& stage : file_.stages)
      totalSteps_ += static_cast<int>(stage.steps.size());
    for (size_t i = 0; i <= target; ++i) {
      BERTH_ASSIGN(StageState state, buildStage(file_.stages[i]));
      stages_.push_back(std::move(state));
    }
    return result(file_.stages[target], stages_.back());
  }

 private:
  Result<std::shared_ptr<BaseImage>> baseImage(const std::string& name) {
    if (auto found = bases_.find(name); found != bases_.end())
      return found->second;
    std::shared_ptr<BaseImage> base;
    if (name == "scratch") {
      BERTH_ASSIGN(BaseImage made, scratchBaseImage(request_.scratch, log_));
      base = std::make_shared<BaseImage>(std::move(made));
    } else {
      BERTH_ASSIGN(fs::path image, request_.provideImage(name));
      BERTH_ASSIGN(BaseImage loaded, loadBaseImage(image, name, request_.cacheRoot / "blobs"));
      base = std::make_shared<BaseImage>(std::move(loaded));
    }
    bases_[name] = base;
    return base;
  }

  Result<StageState> buildStage(const DockerStage& stage) {
    StageState state;
    if (stage.baseStage >= 0) {
      state = stages_.at(static_cast<size_t>(stage.baseStage));
    } else {
      BERTH_ASSIGN(state.base, baseImage(stage.base));
      state.key = state.base->digest;
      state.runImage = state.base->squashfs;
      // Metadata steps before any layer take the base's time: a rebuild gives the same config.
      state.lastCreated = request_.sourceDateEpoch ? nowText(request_.sourceDateEpoch)
                                                   : configCreated(state.base->configJson);
    }
    for (const DockerStep& step : stage.steps)
      BERTH_TRY(buildStep(step, state));
    return state;
  }

  std::string where(const DockerStep& step) const {
    return fmt::format("{}:{}: step {}/{} `{}`", request_.dockerfileName, step.line, stepNumber_,
                       totalSteps_, step.text);
  }

  Status buildStep(const DockerStep& step, StageState& state) {
    ++stepNumber_;
    auto started = std::chrono::steady_clock::now();
    std::string tree;
    if (step.kind == Kind::kCopy || step.kind == Kind::kAdd) {
      if (step.fromStage >= 0) {
        tree = stages_.at(static_cast<size_t>(step.fromStage)).key;
      } else if (step.flags.contains("from")) {
        return Error(fmt::format("{}: COPY --from an image is not supported yet", where(step)));
      } else {
        std::vector<std::string> sources(step.args.begin(), step.args.end() - 1);
        TreeHashOptions options;
        options.ignore = ignore_ ? &*ignore_ : nullptr;
        BERTH_ASSIGN(tree, treeHash(request_.context, sources, options).withContext(where(step)));
      }
    }
    BERTH_ASSIGN(state.key,
                 chainKey(state.key, container::rootModeName(request_.identity.root.mode),
                          canonicalInstruction(step), tree));
    if (!changesFiles(step.kind)) {
      state.history.push_back({state.lastCreated, step.text, true});
      return okStatus();
    }
    std::optional<StepCacheEntry> hit;
    if (!request_.noCache) {
      BERTH_ASSIGN(hit, cache_.find(state.key));
    }
    if (hit) {
      ++cacheHits_;
      addLayer(state, {}, *hit);
      state.history.push_back({hit->created, step.text, false});
      state.lastCreated = hit->created;
      report(step, "cached");
      return okStatus();
    }
    BERTH_TRY(runStep(step, state));
    ++stepsRun_;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report(step, fmt::format("{:.2f} s", seconds));
    return okStatus();
  }

  void report(const DockerStep& step, std::string_view outcome) const {
    if (!request_.progress)
      return;
    std::string text = step.text.size() > 60 ? step.text.substr(0, 57) + "..." : step.text;
    request_.progress(fmt::format("[{}/{}] {}  {}", stepNumber_, totalSteps_, text, outcome));
  }

  void addLayer(StageState& state, fs::path upper, const StepCacheEntry& entry) {
    Layer layer;
    layer.upper = std::move(upper);
    layer.diffId = entry.diffId;
    layer.descriptor = {.mediaType = kOciLayerGzipType,
                        .digest = entry.blob,
                        .size = entry.size,
                        .urls = {},
                        .platform = {}};
    layer.blob = {.path = cache_.blobPath(entry.blob),
                  .mediaType = kOciLayerGzipType,
                  .digest = entry.blob,
                  .ready = {},
                  .size = entry.size,
                  .blobVerified = false};
    state.layers.push_back(std::move(layer));
  }

  // The layers a step's container stacks: runImage, then the layers after it (which must all
  // have run in this build: a cache hit after them first goes into a new runImage).
  Result<StepLayers> stepLayers(StageState& state, const fs::path& layerDir) {
    bool allDirs = true;
    for (size_t i = state.inRunImage; i < state.layers.size(); ++i)
      allDirs = allDirs && !state.layers[i].upper.empty();
    if (!allDirs) {
      std::vector<convert::LayerBlob> layers = state.base->layers;
      for (const Layer& layer : state.layers)
        layers.push_back(layer.blob);
      fs::path image = request_.scratch / fmt::format("run-{}.sqsh", ++runImages_);
      convert::ConvertOptions options;
      options.zstdLevel = 1;
      BERTH_TRY(convert::convertLayers(layers, {}, image, options, log_)
                    .withContext("assemble the cached layers for the next step"));
      state.runImage = image;
      state.inRunImage = state.layers.size();
    }
    std::error_code ec;
    fs::create_directories(layerDir, ec);
    if (ec)
      return Error(fmt::format("create `{}`: {}", layerDir.string(), ec.message()));
    StepLayers stack;
    stack.image = state.runImage;
    BERTH_ASSIGN(fs::path scaffold, mountPointScaffold());
    stack.below.push_back(scaffold);
    for (size_t i = state.layers.size(); i > state.inRunImage; --i)
      stack.below.push_back(state.layers[i - 1].upper);
    stack.layerDir = layerDir;
    return stack;
  }

  // A read-only layer over every step's image with the mount points a container needs and an
  // image may lack (BUILD.md's scaffold): the overlay then never makes them in a step's upper
  // directory, so they never reach a layer. Each is mounted over, so its attributes never show.
  Result<fs::path> mountPointScaffold() {
    fs::path dir = request_.scratch / "scaffold";
    if (scaffoldMade_)
      return dir;
    std::error_code ec;
    for (const char* sub : {"proc", "sys", "dev", "tmp", "var/tmp", "etc"})
      fs::create_directories(dir / sub, ec);
    for (const char* file : {"etc/hosts", "etc/resolv.conf"})
      std::ofstream(dir / file).flush();
    if (ec)
      return Error(fmt::format("create `{}`: {}", dir.string(), ec.message()));
    scaffoldMade_ = true;
    return dir;
  }

  Status runStep(const DockerStep& step, StageState& state) {
    fs::path layerDir = request_.scratch / fmt::format("layer-{}", stepNumber_);
    BERTH_ASSIGN(StepLayers stack, stepLayers(state, layerDir));
    if (step.kind == Kind::kRun) {
      std::string workdir = step.workdir.empty() ? "/" : step.workdir;
      BERTH_ASSIGN(StepContainer container,
                   StepContainer::open(site_, request_.identity, stack,
                                       workdir == "/" ? std::string() : workdir)
                       .withContext(where(step)));
      StepCommand command;
      command.argv = step.argv;
      command.env = step.environment;
      command.env.insert(command.env.end(), step.proxyEnvironment.begin(),
                         step.proxyEnvironment.end());
      bool hasPath = false;
      for (const std::string& entry : command.env)
        hasPath = hasPath || entry.starts_with("PATH=");
      if (!hasPath)
        command.env.push_back(kDefaultPath);
      command.env.push_back("HOME=/root");
      command.workdir = workdir;
      command.user = step.user;
      BERTH_ASSIGN(int status, container.run(command).withContext(where(step)));
      if (status != 0)
        return Error(fmt::format("{}: exited with status {}", where(step), status));
    } else {
      BERTH_TRY(copyStep(step, stack).withContext(where(step)));
    }
    return storeLayer(step, state, layerDir);
  }

  Status copyStep(const DockerStep& step, const StepLayers& stack) {
    std::vector<std::string> sources(step.args.begin(), step.args.end() - 1);
    std::string destination = step.args.back();
    if (!destination.starts_with('/'))
      destination =
          (step.workdir.empty() || step.workdir == "/" ? std::string("/") : step.workdir + "/") +
          destination;
    CopySpec spec;
    spec.destination = destination;
    spec.destinationIsDirectory = sources.size() > 1 || step.args.back().ends_with('/');
    if (auto chown = step.flags.find("chown"); chown != step.flags.end())
      spec.chown = chown->second;
    if (auto chmod = step.flags.find("chmod"); chmod != step.flags.end()) {
      char* end = nullptr;
      unsigned long mode = std::strtoul(chmod->second.c_str(), &end, 8);
      if (chmod->second.empty() || *end != '\0' || mode > 07777)
        return Error(fmt::format("--chmod={}: not an octal mode", chmod->second));
      spec.chmod = static_cast<mode_t>(mode);
    }
    std::optional<StepContainer> fromContainer;
    fs::path root = request_.context;
    spec.sourceRoot = contextFd_.get();
    if (step.fromStage >= 0) {
      StageState& from = stages_.at(static_cast<size_t>(step.fromStage));
      BERTH_ASSIGN(StepLayers fromStack,
                   stepLayers(from, request_.scratch / fmt::format("from-{}", stepNumber_)));
      BERTH_ASSIGN(StepContainer opened, StepContainer::open(site_, request_.identity, fromStack));
      fromContainer.emplace(std::move(opened));
      spec.sourceRoot = fromContainer->rootDirectory();
      root = fmt::format("/proc/self/fd/{}", spec.sourceRoot);
    } else {
      spec.ignore = ignore_ ? &*ignore_ : nullptr;
    }
    for (const std::string& source : sources) {
      if (step.kind == Kind::kAdd && (source.find("://") != std::string::npos))
        return Error("ADD of a URL is not supported yet: download it in a RUN step");
      BERTH_ASSIGN(std::vector<std::string> matches, matchSource(root, source));
      spec.sources.insert(spec.sources.end(), matches.begin(), matches.end());
    }
    if (spec.sources.size() > 1)
      spec.destinationIsDirectory = true;
    BERTH_ASSIGN(StepContainer container, StepContainer::open(site_, request_.identity, stack));
    return container.runAsRoot([&spec]() { return copyInto(spec); });
  }

  Status storeLayer(const DockerStep& step, StageState& state, const fs::path& layerDir) {
    LayerWriteOptions options = layerOptionsFor(request_.identity);
    options.sourceDateEpoch = request_.sourceDateEpoch;
    fs::path file = layerDir / "layer.tar.gz";
    BERTH_ASSIGN(LayerBlob blob, writeLayerFromUpper(layerDir / "upper", file, options)
                                     .withContext(fmt::format("{}: write its layer", where(step))));
    StepCacheEntry entry{blob.digest, blob.diffId, blob.size, nowText(request_.sourceDateEpoch)};
    BERTH_TRY(cache_.store(state.key, entry, file));
    std::error_code ec;
    fs::remove(file, ec);
    addLayer(state, layerDir / "upper", entry);
    state.history.push_back({entry.created, step.text, false});
    state.lastCreated = entry.created;
    return okStatus();
  }

  Result<BuiltImage> result(const DockerStage& stage, const StageState& state) {
    BuiltImage built;
    BuiltConfigInput input;
    input.baseConfigJson = state.base->configJson;
    input.config = stage.config;
    for (const Layer& layer : state.layers)
      input.diffIds.push_back(layer.diffId);
    input.history = state.history;
    for (HistoryEntry& entry : input.history)
      if (entry.created.empty())
        entry.created = state.lastCreated.empty() ? nowText(std::nullopt) : state.lastCreated;
    input.created =
        state.lastCreated.empty() ? nowText(request_.sourceDateEpoch) : state.lastCreated;
    input.platform = image::hostPlatform();
    BERTH_ASSIGN(built.configJson, builtConfigJson(input));
    BERTH_ASSIGN(std::string configDigest, image::sha256Digest(built.configJson));
    image::Descriptor config{.mediaType = kOciConfigType,
                             .digest = configDigest,
                             .size = static_cast<int64_t>(built.configJson.size()),
                             .urls = {},
                             .platform = {}};
    std::vector<image::Descriptor> descriptors = state.base->descriptors;
    built.layers = state.base->layers;
    for (const Layer& layer : state.layers) {
      descriptors.push_back(layer.descriptor);
      built.layers.push_back(layer.blob);
    }
    built.manifestJson = builtManifestJson(config, descriptors);
    BERTH_ASSIGN(built.digest, image::sha256Digest(built.manifestJson));
    built.platform = input.platform;
    built.created = input.created;
    built.stepsRun = stepsRun_;
    built.cacheHits = cacheHits_;
    return built;
  }

  const config::SiteConfig& site_;
  const DockerBuildRequest& request_;
  const Logger& log_;
  BuildCache cache_;
  std::optional<DockerIgnore> ignore_;
  UniqueFd contextFd_;
  Dockerfile file_;
  std::map<std::string, std::shared_ptr<BaseImage>> bases_;
  std::vector<StageState> stages_;
  int totalSteps_ = 0;
  int stepNumber_ = 0;
  int stepsRun_ = 0;
  int cacheHits_ = 0;
  int runImages_ = 0;
  bool scaffoldMade_ = false;
};

}  // namespace

Result<BuiltImage> buildDockerfile(const config::SiteConfig& site,
                                   const DockerBuildRequest& request, const Logger& log) {
  DockerBuild build(site, request, log);
  return build.run();
}

}  // namespace berth::build
