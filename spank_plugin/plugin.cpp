// The only file of berth with `extern "C"`: the symbols Slurm looks up in spank_berth.so.
//
// Each callback is thin: it gathers what Slurm knows (items, environments) into the plain C++
// interfaces of spank_context.hpp and calls the file for its context:
//   local_side.cpp   srun, sbatch, salloc (as the user)
//   remote_side.cpp  slurmstepd, once per node per step (root); job epilog
//   task_side.cpp    each task (task_init_privileged as root, task_init as the user)
// Every callback runs its body through runGuarded(), which turns an Error or an exception into
// one logged line and -1; nothing thrown ever crosses into Slurm (STYLE.md rule 1).
extern "C" {
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <slurm/spank.h>
}

#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "shared/core/process_env.hpp"
#include "shared/slurm/slurmd_paths.hpp"
#include "spank_plugin/container_backend.hpp"
#include "spank_plugin/env_preset.hpp"
#include "spank_plugin/local_side.hpp"
#include "spank_plugin/options.hpp"
#include "spank_plugin/plugstack_args.hpp"
#include "spank_plugin/remote_side.hpp"
#include "spank_plugin/step_state.hpp"
#include "spank_plugin/task_side.hpp"

// The plugin builds with hidden visibility; these are the symbols Slurm looks up.
#define BERTH_EXPORT __attribute__((visibility("default")))

extern "C" {
BERTH_EXPORT extern const char plugin_name[];
BERTH_EXPORT extern const char plugin_type[];
BERTH_EXPORT extern const unsigned int plugin_version;
const char plugin_name[] = "berth";
const char plugin_type[] = "spank";
const unsigned int plugin_version = SLURM_VERSION_NUMBER;
}

namespace {

using berth::Status;
using berth::spank::OptionId;

// One plugin instance per process (srun, sbatch, slurmstepd): Slurm gives no other place to
// keep state between callbacks. Tasks are forked from slurmstepd and inherit it.
berth::spank::StepState& state() {
  static berth::spank::StepState instance;
  return instance;
}

// Library messages go to Slurm's log: in srun that is the user's terminal, in slurmstepd the
// slurmd log. Always with a "%s" format.
berth::Logger slurmLogger() {
  return berth::Logger(
      [](berth::LogLevel level, std::string_view message) {
        std::string text(message);
        switch (level) {
          case berth::LogLevel::kError:
            slurm_error("%s", text.c_str());
            break;
          case berth::LogLevel::kWarning:
          case berth::LogLevel::kInfo:
            slurm_info("%s", text.c_str());
            break;
          case berth::LogLevel::kVerbose:
            slurm_verbose("%s", text.c_str());
            break;
          case berth::LogLevel::kDebug:
            slurm_debug("%s", text.c_str());
            break;
        }
      },
      berth::LogLevel::kDebug);
}

template <typename Body>
int runGuarded(const char* callback, Body&& body) noexcept {
  try {
    Status status = body();
    if (status.ok())
      return ESPANK_SUCCESS;
    slurm_error("%s", fmt::format("berth: {}", status.error().message()).c_str());
  } catch (const std::exception& e) {
    slurm_error("%s", fmt::format("berth: internal error in {}: {}", callback, e.what()).c_str());
  } catch (...) {
    slurm_error("%s", fmt::format("berth: internal error in {}", callback).c_str());
  }
  return -1;
}

int setOption(int id, const char* argument, int /*remote*/) {
  return runGuarded("option",
                    [&] { return state().options.set(static_cast<OptionId>(id), argument); });
}

Status registerOptions(spank_t spank) {
  for (const auto& spec : berth::spank::optionTable()) {
    // spank_option holds non-const char*; Slurm copies and never writes through them.
    spank_option option{};
    option.name = const_cast<char*>(spec.name.data());
    option.arginfo = spec.argInfo.empty() ? nullptr : const_cast<char*>(spec.argInfo.data());
    option.usage = const_cast<char*>(spec.usage.data());
    option.has_arg = static_cast<int>(spec.argument);
    option.val = static_cast<int>(spec.id);
    option.cb = setOption;
    if (spank_option_register(spank, &option) != ESPANK_SUCCESS) {
      return berth::Error(fmt::format("cannot register option --{}", spec.name));
    }
  }
  return berth::okStatus();
}

// The environment of this process (srun, sbatch: what the job inherits).
berth::spank::Environment processEnvironment() {
  return {
      .get = berth::processEnv,
      .set = [](std::string_view name, std::string_view value) -> Status {
        if (::setenv(std::string(name).c_str(), std::string(value).c_str(), 1) != 0)
          return berth::errnoError(fmt::format("setenv {}", name));
        return berth::okStatus();
      },
      .unset = [](std::string_view name) -> Status {
        if (::unsetenv(std::string(name).c_str()) != 0)
          return berth::errnoError(fmt::format("unsetenv {}", name));
        return berth::okStatus();
      },
      .all =
          [] {
            std::vector<std::string> all;
            for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry)
              all.emplace_back(*entry);
            return all;
          },
  };
}

// The job's environment as slurmstepd holds it (in a task: the task's environment).
berth::spank::Environment jobEnvironment(spank_t spank) {
  return {
      .get = [spank](std::string_view name) -> std::optional<std::string> {
        std::vector<char> buffer(4096);
        while (true) {
          spank_err_t rc = spank_getenv(spank, std::string(name).c_str(), buffer.data(),
                                        static_cast<int>(buffer.size()));
          if (rc == ESPANK_SUCCESS)
            return std::string(buffer.data());
          if (rc != ESPANK_NOSPACE || buffer.size() > (1u << 20))
            return std::nullopt;
          buffer.resize(buffer.size() * 4);
        }
      },
      .set = [spank](std::string_view name, std::string_view value) -> Status {
        if (spank_setenv(spank, std::string(name).c_str(), std::string(value).c_str(), 1) !=
            ESPANK_SUCCESS)
          return berth::Error(fmt::format("cannot set {} in the job environment", name));
        return berth::okStatus();
      },
      .unset = [spank](std::string_view name) -> Status {
        if (spank_unsetenv(spank, std::string(name).c_str()) != ESPANK_SUCCESS)
          return berth::Error(fmt::format("cannot unset {} in the job environment", name));
        return berth::okStatus();
      },
      .all =
          [spank] {
            std::vector<std::string> all;
            char** env = nullptr;
            if (spank_get_item(spank, S_JOB_ENV, &env) == ESPANK_SUCCESS) {
              for (char** entry = env; entry != nullptr && *entry != nullptr; ++entry)
                all.emplace_back(*entry);
            }
            return all;
          },
  };
}

std::string hostName() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0)
    return {};
  return buffer;
}

// The node's NodeName: slurmd exports SLURMD_NODENAME to its children when it runs in
// multiple-slurmd mode or with -N; otherwise NodeName is the short host name.
std::string nodeName(const berth::spank::Environment& jobEnv) {
  if (auto name = berth::processEnv("SLURMD_NODENAME"); name && !name->empty())
    return *name;
  if (auto name = jobEnv.get("SLURMD_NODENAME"); name && !name->empty())
    return *name;
  std::string host = hostName();
  return host.substr(0, host.find('.'));
}

berth::spank::StepInfo stepInfo(spank_t spank, const berth::spank::Environment& jobEnv) {
  berth::spank::StepInfo info;
  uid_t uid = 0;
  gid_t gid = 0;
  spank_get_item(spank, S_JOB_ID, &info.jobId);
  spank_get_item(spank, S_JOB_STEPID, &info.stepId);
  if (spank_get_item(spank, S_JOB_UID, &uid) == ESPANK_SUCCESS)
    info.uid = uid;
  if (spank_get_item(spank, S_JOB_GID, &gid) == ESPANK_SUCCESS)
    info.gid = gid;
  spank_get_item(spank, S_JOB_NODEID, &info.nodeId);
  spank_get_item(spank, S_JOB_NNODES, &info.nodeCount);
  info.hostName = hostName();
  info.nodeName = nodeName(jobEnv);
  return info;
}

// Whether Slurm ended the job (scancel, time limit, node failure) or the step (its own time
// limit), as slurmctld sees it. While the step starts, slurmstepd itself is not told: Slurm
// 22.05 holds the kill until the tasks run (slurmstepd/req.c, _wait_for_job_running), so a
// pull polls this. slurmstepd's own libslurm makes the RPCs (no library of ours links it).
// Unreachable slurmctld: not ended.
bool stepEnded(uint32_t jobId, uint32_t stepId) {
  job_info_msg_t* jobs = nullptr;
  if (slurm_load_job(&jobs, jobId, SHOW_ALL) != SLURM_SUCCESS)
    return slurm_get_errno() == ESLURM_INVALID_JOB_ID;  // purged already
  bool ended = true;
  for (uint32_t i = 0; i < jobs->record_count; ++i) {
    const slurm_job_info_t& job = jobs->job_array[i];
    if (job.job_id != jobId)
      continue;
    uint32_t base = job.job_state & JOB_STATE_BASE;
    ended = (job.job_state & JOB_COMPLETING) != 0 || (base != JOB_RUNNING && base != JOB_SUSPENDED);
  }
  slurm_free_job_info_msg(jobs);
  if (ended)
    return true;
  job_step_info_response_msg_t* steps = nullptr;
  if (slurm_get_job_steps(0, jobId, stepId, &steps, SHOW_ALL) != SLURM_SUCCESS)
    return false;
  for (uint32_t i = 0; i < steps->job_step_count; ++i) {
    const job_step_info_t& step = steps->job_steps[i];
    if (step.step_id.job_id == jobId && step.step_id.step_id == stepId &&
        (step.state & JOB_STATE_BASE) == JOB_TIMEOUT)
      ended = true;
  }
  slurm_free_job_step_info_response_msg(steps);
  return ended;
}

// The step's first node (SLURM_NODEID 0: slurmstepd numbers the nodes in the order libslurm's
// hostlist gives them) and its NodeAddr as slurmctld has it: the address Slurm itself uses
// between nodes. One RPC per node of a step that asks for a preset; without an answer, the
// node name (NodeAddr's default).
berth::Result<std::string> firstNodeAddress(std::string_view nodeList, const berth::Logger& log) {
  hostlist_t hosts = slurm_hostlist_create(std::string(nodeList).c_str());
  char* first = hosts != nullptr ? slurm_hostlist_shift(hosts) : nullptr;
  if (hosts != nullptr)
    slurm_hostlist_destroy(hosts);
  if (first == nullptr)
    return berth::Error(fmt::format("`{}` is not a node list", nodeList));
  std::string name(first);
  std::free(first);
  node_info_msg_t* nodes = nullptr;
  if (slurm_load_node_single(&nodes, name.data(), SHOW_ALL) != SLURM_SUCCESS) {
    log.warning("berth: NodeAddr of {}: {} (MASTER_ADDR is the node name)", name,
                slurm_strerror(slurm_get_errno()));
    return name;
  }
  std::string address = name;
  for (uint32_t i = 0; i < nodes->record_count; ++i) {
    const node_info_t& node = nodes->node_array[i];
    if (node.name != nullptr && name == node.name && node.node_addr != nullptr &&
        *node.node_addr != '\0')
      address = node.node_addr;
  }
  slurm_free_node_info_msg(nodes);
  return address;
}

bool isRegularFile(const std::filesystem::path& path) {
  std::error_code ignored;
  return std::filesystem::is_regular_file(path, ignored);
}

std::vector<std::string> pluginArguments(int argc, char** argv) {
  std::vector<std::string> arguments;
  for (int i = 0; i < argc; ++i)
    arguments.emplace_back(argv[i]);
  return arguments;
}

}  // namespace

extern "C" {

BERTH_EXPORT int slurm_spank_init(spank_t spank, int argc, char** argv) {
  return runGuarded("init", [&]() -> Status {
    // A bad plugstack.conf argument or berth.conf is the admin's error: refuse to load.
    BERTH_ASSIGN(state().site, berth::spank::siteConfigFromPlugstack(pluginArguments(argc, argv),
                                                                     berth::processEnv));
    spank_context_t context = spank_context();
    if (context == S_CTX_JOB_SCRIPT || context == S_CTX_SLURMD)
      return berth::okStatus();  // no options there
    return registerOptions(spank);
  });
}

BERTH_EXPORT int slurm_spank_init_post_opt(spank_t spank, int /*argc*/, char** /*argv*/) {
  return runGuarded("init_post_opt", [&]() -> Status {
    spank_context_t context = spank_context();
    berth::Logger log = slurmLogger();
    if (context == S_CTX_LOCAL || context == S_CTX_ALLOCATOR) {
      berth::spank::Backend backend = berth::spank::makeBackend(state().site, log);
      if (context == S_CTX_ALLOCATOR)
        backend.jobPin = nullptr;  // sbatch/salloc make a new job: its tags pinned afresh
      return berth::spank::prepareSubmission(state(), processEnvironment(), backend, log);
    }
    if (context == S_CTX_REMOTE) {
      // Never fails: user errors are reported when the tasks start (see remote_side.hpp).
      berth::spank::Environment jobEnv = jobEnvironment(spank);
      berth::spank::StepInfo step = stepInfo(spank, jobEnv);
      berth::spank::NodeFacts node{
          .step = step,
          .slurmConf = berth::slurm::nodeSlurmConfPath(berth::processEnv, isRegularFile)
                           .value_or(std::filesystem::path()),
          .stepEnded = [job = step.jobId, id = step.stepId] { return stepEnded(job, id); }};
      berth::spank::prepareStep(state(), node, jobEnv, berth::spank::makeBackend(state().site, log),
                                log);
      berth::spank::prepareEnvPreset(
          state(), step, jobEnv,
          [&log](std::string_view nodes) { return firstNodeAddress(nodes, log); }, log);
    }
    return berth::okStatus();
  });
}

BERTH_EXPORT int slurm_spank_task_init_privileged(spank_t /*spank*/, int /*argc*/,
                                                  char** /*argv*/) {
  return runGuarded("task_init_privileged", [&] { return berth::spank::enterContainer(state()); });
}

BERTH_EXPORT int slurm_spank_task_init(spank_t spank, int /*argc*/, char** /*argv*/) {
  return runGuarded("task_init", [&]() -> Status {
    if (!state().container)
      return berth::okStatus();
    int argc = 0;
    char** argv = nullptr;
    std::vector<std::string> command;
    if (spank_get_item(spank, S_JOB_ARGV, &argc, &argv) == ESPANK_SUCCESS) {
      for (int i = 0; i < argc; ++i)
        command.emplace_back(argv[i]);
    }
    return berth::spank::prepareTaskEnvironment(state(), jobEnvironment(spank), command);
  });
}

BERTH_EXPORT int slurm_spank_task_exit(spank_t spank, int /*argc*/, char** /*argv*/) {
  return runGuarded("task_exit", [&]() -> Status {
    if (spank_context() != S_CTX_REMOTE || !state().container)
      return berth::okStatus();
    uint32_t localTasks = 1;
    spank_get_item(spank, S_JOB_LOCAL_TASK_COUNT, &localTasks);
    berth::spank::Environment jobEnv = jobEnvironment(spank);
    return berth::spank::taskExited(state(), stepInfo(spank, jobEnv), localTasks,
                                    berth::spank::makeBackend(state().site, slurmLogger()));
  });
}

BERTH_EXPORT int slurm_spank_exit(spank_t /*spank*/, int /*argc*/, char** /*argv*/) {
  return runGuarded("exit", [&]() -> Status {
    if (spank_context() != S_CTX_REMOTE)
      return berth::okStatus();
    return berth::spank::finishStep(state());
  });
}

BERTH_EXPORT int slurm_spank_job_epilog(spank_t spank, int /*argc*/, char** /*argv*/) {
  return runGuarded("job_epilog", [&]() -> Status {
    uint32_t jobId = 0;
    if (spank_get_item(spank, S_JOB_ID, &jobId) != ESPANK_SUCCESS)
      return berth::okStatus();
    berth::spank::Environment env = processEnvironment();
    return berth::spank::cleanJob(state().site, nodeName(env), jobId);
  });
}

}  // extern "C"
