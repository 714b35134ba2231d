#include "spank_plugin/remote_side.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "shared/slurm/slurmd_paths.hpp"
#include "spank_plugin/job_pins.hpp"
#include "spank_plugin/local_side.hpp"
#include "spank_plugin/option_checks.hpp"
#include "spank_plugin/task_environment.hpp"

namespace berth::spank {
namespace {

// Makes `path` (and its parents under the state dir) as a root-owned 0700 directory.
Status makePrivateDirs(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error)
    return Error(fmt::format("create {}: {}", path.string(), error.message()));
  if (::chmod(path.c_str(), 0700) != 0)
    return errnoError(fmt::format("chmod {}", path.string()));
  return okStatus();
}

// What slurm.conf says for this node's steps.
slurm::SlurmdDirPatterns nodeSlurmConf(const NodeFacts& node, const Logger& log) {
  if (node.slurmConf.empty()) {
    log.warning("berth: no slurm.conf found (using Slurm's default SlurmdSpoolDir and TmpFS)");
    return slurm::SlurmdDirPatterns{};
  }
  auto patterns = slurm::readSlurmConf(node.slurmConf);
  if (patterns.ok())
    return std::move(patterns).value();
  // Without slurm.conf the defaults still work on most sites; say so in the slurmd log.
  log.warning("berth: {} (using Slurm's default SlurmdSpoolDir and TmpFS)",
              patterns.error().message());
  return slurm::SlurmdDirPatterns{};
}

// The host paths the step's tasks need inside: PMIx directories, the batch script.
std::vector<std::filesystem::path> stepHostPaths(const NodeFacts& node,
                                                 const slurm::SlurmdDirPatterns& patterns) {
  const StepInfo& step = node.step;
  auto paths = slurm::stepHostPaths(
      slurm::expandNodePattern(patterns.spoolDir, step.nodeName, step.hostName),
      slurm::expandNodePattern(patterns.tmpFs, step.nodeName, step.hostName),
      {.jobId = step.jobId, .stepId = step.stepId, .uid = step.uid});
  return slurm::existingPaths(paths);
}

Status buildStepContainer(StepState& state, const NodeFacts& node, const Environment& jobEnv,
                          const Backend& backend, const Logger& log) {
  const OptionValues& values = state.options;
  const std::string image = *values.get(OptionId::kImage);
  BERTH_TRY(checkOptionValues(values, state.site));
  Switches switches = resolveSwitches(values, state.site);
  state.runEntrypoint = switches.entrypoint;
  state.workdir = values.get(OptionId::kWorkdir);
  if (auto names = values.get(OptionId::kEnv)) {
    BERTH_ASSIGN(state.keepFromHost, parseEnvironmentNames(*names));
  }
  const StepInfo& step = node.step;
  UserIdentity user{.uid = step.uid, .gid = step.gid};

  std::string imageArgument = image;
  if (isImagePath(image) && image.front() != '/') {
    // A relative squashfs path means the directory the user launched from.
    std::optional<std::string> cwd = jobEnv.get("PWD");
    if (!cwd)
      return Error("give the image's absolute path");
    imageArgument = (std::filesystem::path(*cwd) / image).lexically_normal().string();
  }
  ImageRequest imageRequest{.image = imageArgument,
                            .pinnedDigest = pinnedDigestFor(image, jobEnv.get(kPinVariable)),
                            .user = user,
                            .userEnvironment = jobEnv.get,
                            .stepEnded = node.stepEnded};
  if (!backend.ensureImage || !backend.buildContainer)
    return Error("this build of berth has no container runtime");
  BERTH_ASSIGN(std::filesystem::path imageFile, backend.ensureImage(imageRequest));
  if (imageRequest.pinnedDigest && backend.rememberJobPin) {
    // The job's later steps run this digest without asking the registry (job_pins.hpp).
    Status remembered =
        backend.rememberJobPin(step.jobId, step.uid, image, *imageRequest.pinnedDigest);
    if (!remembered.ok())
      log.verbose("berth: {} (the job's next steps pin the tag again)",
                  remembered.error().message());
  }
  slurm::SlurmdDirPatterns slurmConf = nodeSlurmConf(node, log);

  ContainerRequest request{.imageFile = imageFile,
                           .user = user,
                           .writable = switches.writable,
                           .mountHome = switches.mountHome,
                           .mounts = {},
                           .workdir = state.workdir,
                           .hostPaths = stepHostPaths(node, slurmConf),
                           .hostBinds = {},
                           .persistentUpper = std::nullopt,
                           .gpu = std::nullopt,
                           .inject = std::nullopt};
  // A batch script in the image calls the node's srun, sbatch, scontrol (berth.conf
  // host_slurm): without them it still runs, with the image's own only.
  state.hostSlurmBin.clear();
  if (step.stepId == slurm::kBatchStep && state.site.hostSlurm && backend.hostSlurmClient) {
    auto client = backend.hostSlurmClient(step.nodeName, node.slurmConf, slurmConf);
    if (client.ok()) {
      request.hostBinds = std::move(client->binds);
      state.hostSlurmBin = std::move(client->binDir);
    } else {
      log.warning("berth: the host's Slurm client for the batch script: {}",
                  client.error().message());
    }
  }
  // --container-gpu (default auto: Slurm's gres allocation — none when Slurm manages GPUs and
  // gave the step none — else every GPU of the node, else nothing); capabilities from
  // --container-gpu-caps, else the job's NVIDIA_DRIVER_CAPABILITIES.
  std::optional<std::string> caps = values.get(OptionId::kGpuCaps);
  if (!caps)
    caps = jobEnv.get("NVIDIA_DRIVER_CAPABILITIES");
  BERTH_ASSIGN(
      gpu::GpuRequest gpuRequest,
      gpu::parseGpuRequest(values.get(OptionId::kGpu).value_or("auto"), caps.value_or("")));
  if (gpuRequest.mode != gpu::GpuRequest::Mode::kNone)
    request.gpu = container::GpuWanted{.request = std::move(gpuRequest),
                                       .stepEnv = jobEnv.get,
                                       .slurmManagesGpus = slurmConf.gpuGres,
                                       .driverRoot = {}};
  // --container-inject, --container-mpi=host, and the MPI check against the step's --mpi.
  BERTH_ASSIGN(request.inject,
               container::injectWantedFrom(values.get(OptionId::kInject).value_or(""), state.site)
                   .withContext("--container-inject"));
  std::string mpi = values.get(OptionId::kMpi).value_or("image");
  std::string mpiCheck = values.get(OptionId::kMpiCheck).value_or("on");
  if (mpi != "host" && mpi != "image")
    return Error(fmt::format("--container-mpi={}: use host or image", mpi));
  if (mpiCheck != "on" && mpiCheck != "off")
    return Error(fmt::format("--container-mpi-check={}: use on or off", mpiCheck));
  request.inject->hostMpi = mpi == "host";
  request.inject->stepMpi = jobEnv.get("SLURM_MPI_TYPE").value_or("");
  request.inject->check = mpiCheck == "on";
  if (auto mounts = values.get(OptionId::kMounts)) {
    BERTH_ASSIGN(auto userMounts, parseMountList(*mounts));
    request.mounts.insert(request.mounts.end(), userMounts.begin(), userMounts.end());
  }
  std::filesystem::path jobDir = jobStateDir(state.site, step.nodeName, step.jobId);
  if (auto name = values.get(OptionId::kName)) {
    request.persistentUpper = jobDir / ("name." + *name);
  } else if (values.has(OptionId::kSave)) {
    request.persistentUpper = jobDir / fmt::format("save.{}", step.stepId);
    state.removeUpperAtExit = true;
  }
  if (request.persistentUpper)
    BERTH_TRY(makePrivateDirs(*request.persistentUpper));
  state.upperDir = request.persistentUpper;
  if (auto save = values.get(OptionId::kSave)) {
    std::filesystem::path target(*save);
    if (target.is_relative()) {
      // Relative to where the user launched the step.
      std::optional<std::string> cwd = jobEnv.get("PWD");
      if (!cwd)
        return Error(fmt::format("--container-save={}: give an absolute path", *save));
      target = std::filesystem::path(*cwd) / target;
    }
    // The first node saves, once the tasks are gone; by then Slurm has the step's exit code
    // (a task_exit or exit callback cannot change it in Slurm 22.05), so a path the user cannot
    // write fails the step here, where its tasks still fail with the message.
    if (step.nodeId == 0 && backend.checkSaveTarget)
      BERTH_TRY(backend.checkSaveTarget(target, user)
                    .withContext(fmt::format("--container-save={}", target.string())));
    state.saveTo = target;
  }

  auto start = std::chrono::steady_clock::now();
  BERTH_ASSIGN(Container container, backend.buildContainer(request));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  log.verbose("berth: container ready in {} ms ({})", ms, image);
  state.container = std::move(container);
  return okStatus();
}

}  // namespace

std::filesystem::path jobStateDir(const config::SiteConfig& site, std::string_view nodeName,
                                  uint32_t jobId) {
  return site.stateDir / std::string(nodeName) / fmt::format("job{}", jobId);
}

void prepareStep(StepState& state, const NodeFacts& node, const Environment& jobEnv,
                 const Backend& backend, const Logger& log) {
  // The extern step holds no tasks of the user's command.
  if (node.step.stepId == slurm::kExternStep)
    return;
  state.options.applyEnvironment(jobEnv.get);
  std::optional<std::string> image = state.options.get(OptionId::kImage);
  if (!image)
    return;
  Status status = buildStepContainer(state, node, jobEnv, backend, log);
  if (!status.ok()) {
    state.container.reset();
    state.deferredError = std::move(status).error().withContext(
        fmt::format("--container-image={} on {}", *image, node.step.nodeName));
    log.info("berth: {} (reported when the tasks start)", state.deferredError->message());
  }
}

Status taskExited(StepState& state, const StepInfo& step, uint32_t localTasks,
                  const Backend& backend) {
  if (++state.exitedTasks < localTasks)
    return okStatus();
  if (!state.saveTo || !state.upperDir || !state.container || step.nodeId != 0)
    return okStatus();
  std::filesystem::path image = state.container->imageFile;
  std::filesystem::path target = *std::exchange(state.saveTo, std::nullopt);
  // Every task is gone: drop the namespace (and its overlay) before reading its layer.
  state.container.reset();
  if (!backend.saveContainer)
    return Error("this build of berth cannot save containers");
  return backend.saveContainer(image, *state.upperDir, target, {.uid = step.uid, .gid = step.gid})
      .withContext(fmt::format("--container-save={}", target.string()));
}

Status finishStep(StepState& state) {
  state.container.reset();
  if (state.removeUpperAtExit && state.upperDir) {
    std::error_code ignored;
    std::filesystem::remove_all(*state.upperDir, ignored);
  }
  return okStatus();
}

Status cleanJob(const config::SiteConfig& site, std::string_view nodeName, uint32_t jobId) {
  BERTH_TRY(removeJobPins(site.stateDir, jobId));
  std::filesystem::path dir = jobStateDir(site, nodeName, jobId);
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  if (error)
    return Error(fmt::format("remove {}: {}", dir.string(), error.message()));
  return okStatus();
}

}  // namespace berth::spank
